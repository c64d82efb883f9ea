internal import Synchronization

/// Waiting with a limit for work that may not react to cancellation.
public enum Deadline {
  /// Runs `operation` and returns its result, or throws DEADLINE_EXCEEDED once `limit` has
  /// passed (running `onTimeout` first), even when the operation ignores cancellation: a
  /// connection attempt stuck in a handshake, a database call on a dead socket. The operation
  /// runs in a task of its own, which is cancelled on timeout and when the caller is cancelled;
  /// whatever it does after that is not waited for.
  public static func run<T: Sendable>(
    within limit: Duration,
    time: any TimeSource = SystemTime(),
    _ operation: @escaping @Sendable () async throws -> T,
    onTimeout: @escaping @Sendable () -> Void = {}
  ) async throws -> T {
    let outcome = Outcome<T>()
    let work = Task {
      do { outcome.resolve(.success(try await operation())) } catch { outcome.resolve(.failure(error)) }
    }
    let timer = Task {
      guard (try? await time.sleep(for: limit)) != nil else { return }
      if outcome.resolve(.failure(NSMError(.deadlineExceeded, "no answer within \(GoDuration.format(limit))"))) {
        onTimeout()
      }
      work.cancel()
    }
    defer { timer.cancel() }
    return try await withTaskCancellationHandler {
      try await outcome.value
    } onCancel: {
      work.cancel()
      outcome.resolve(.failure(CancellationError()))
    }
  }
}

/// A result set once and awaited by one task.
private final class Outcome<T: Sendable>: Sendable {
  private struct State {
    var result: Result<T, any Error>?
    var waiter: CheckedContinuation<T, any Error>?
  }

  private let state = Mutex(State())

  /// Sets the result; false when one was already set.
  @discardableResult
  func resolve(_ result: Result<T, any Error>) -> Bool {
    let waiter = state.withLock { state -> CheckedContinuation<T, any Error>?? in
      guard state.result == nil else { return .none }
      state.result = result
      defer { state.waiter = nil }
      return .some(state.waiter)
    }
    guard let waiter else { return false }
    waiter?.resume(with: result)
    return true
  }

  var value: T {
    get async throws {
      try await withCheckedThrowingContinuation { continuation in
        let ready = state.withLock { state -> Result<T, any Error>? in
          if let result = state.result { return result }
          state.waiter = continuation
          return nil
        }
        if let ready { continuation.resume(with: ready) }
      }
    }
  }
}
