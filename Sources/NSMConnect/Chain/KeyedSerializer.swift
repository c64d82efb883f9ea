internal import DequeModule
internal import Synchronization

/// Runs operations one at a time per key and concurrently across keys: a refresh of a
/// connection never races its Close, while other connections go on.
///
/// The lock guards only the queues and is never held across `await`.
public final class KeyedSerializer: Sendable {
  private struct Queue {
    var running = false
    var waiting: Deque<CheckedContinuation<Void, Never>> = []
  }

  private let queues = Mutex<[String: Queue]>([:])

  public init() {}

  /// Keys with an operation running or waiting.
  public var activeKeys: Int { queues.withLock { $0.count } }

  public func run<Result: Sendable>(_ key: String, _ operation: () async throws -> Result) async throws -> Result {
    await acquire(key)
    defer { release(key) }
    return try await operation()
  }

  private func acquire(_ key: String) async {
    let mustWait = queues.withLock { queues in
      if queues[key]?.running == true { return true }
      queues[key, default: Queue()].running = true
      return false
    }
    guard mustWait else { return }
    await withCheckedContinuation { continuation in
      let resumeNow = queues.withLock { queues -> Bool in
        // The holder may have finished between the two locks.
        if queues[key]?.running != true {
          queues[key, default: Queue()].running = true
          return true
        }
        queues[key]!.waiting.append(continuation)
        return false
      }
      if resumeNow { continuation.resume() }
    }
  }

  private func release(_ key: String) {
    let next = queues.withLock { queues -> CheckedContinuation<Void, Never>? in
      guard var queue = queues[key] else { return nil }
      if let next = queue.waiting.popFirst() {
        queues[key] = queue
        return next  // stays running: handed to the next waiter
      }
      queue.running = false
      queues[key] = nil
      return nil
    }
    next?.resume()
  }
}
