internal import Foundation
internal import NSMCore
internal import PostgresNIO
internal import Synchronization

/// Runs one store operation with a deadline and turns database failures into the status a
/// registry call returns: UNAVAILABLE when the database cannot be reached or does not answer in
/// time (so the caller retries), INTERNAL for anything else.
///
/// The operation runs in a task of its own so the deadline holds even when a connection attempt
/// does not react to cancellation. A write that misses its deadline may still commit later; the
/// caller was told UNAVAILABLE and its retry (an upsert) is harmless. When the calling task is
/// cancelled (its client went away) the operation is cancelled at once, not left to run until
/// the deadline.
func withStoreDeadline<T: Sendable>(
  _ deadline: Duration,
  operation: String,
  _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
  let outcome = Once<Result<T, any Error>>()
  let work = Task {
    let result: Result<T, any Error>
    do { result = .success(try await body()) } catch { result = .failure(error) }
    await outcome.resolve(result)
  }
  let timer = Task {
    try await Task.sleep(for: deadline)
    await outcome.resolve(
      .failure(NSMError.unavailable("the database did not answer within \(GoDuration.format(deadline)) (\(operation))"))
    )
    work.cancel()
  }
  let result = await withTaskCancellationHandler {
    await outcome.value
  } onCancel: {
    work.cancel()
    timer.cancel()
    Task { await outcome.resolve(.failure(CancellationError())) }
  }
  timer.cancel()
  switch result {
  case .success(let value):
    return value
  case .failure(let error):
    throw storeError(error, operation: operation)
  }
}

/// What a database error means to a registry client.
func storeError(_ error: any Error, operation: String) -> any Error {
  switch error {
  case let error as NSMError:
    return error
  case is CancellationError:
    return error
  case let error as PSQLError:
    if error.code == .server, let state = error.serverInfo?[.sqlState] {
      // Class 08: connection exception; 57P: operator intervention (shutdown, crash recovery);
      // 53: insufficient resources; 40001/40P01: serialization failure, deadlock (retryable).
      if state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") || state == "40001"
        || state == "40P01"
      {
        return NSMError.unavailable("database unavailable during \(operation): \(error.serverInfo?[.message] ?? state)")
      }
      return NSMError(
        .internal,
        "database error during \(operation): \(error.serverInfo?[.message] ?? state) [\(state)]"
      )
    }
    return NSMError.unavailable("database unavailable during \(operation): \(error.code)")
  default:
    return NSMError.unavailable("database unavailable during \(operation): \(error)")
  }
}

/// A value set once, awaited by one caller.
private actor Once<Value: Sendable> {
  private var result: Value?
  private var waiter: CheckedContinuation<Value, Never>?

  func resolve(_ value: Value) {
    guard result == nil else { return }
    result = value
    waiter?.resume(returning: value)
    waiter = nil
  }

  var value: Value {
    get async {
      if let result { return result }
      return await withCheckedContinuation { waiter = $0 }
    }
  }
}
