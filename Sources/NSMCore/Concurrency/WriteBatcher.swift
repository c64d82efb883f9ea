internal import Synchronization

/// Group commit for writes that each need a round trip and a commit: while `limit` batches are
/// being written, the writes that arrive wait, and the first of them, once a batch ends, takes
/// every write then waiting (up to `maxBatch`, one per key) into one batch of its own.
///
/// With few writers nothing waits (a write finds a free slot and goes alone, at once); under
/// load a batch holds what arrived during the previous one, so the database sees one statement
/// and one commit for many writes. Each batch runs in the task of the write that leads it, in a
/// task of its own so that this write's cancellation does not fail the others; a waiting write
/// that is cancelled leaves the queue. Two writes with one key never share a batch: the second
/// waits for the next, so a batch can answer per key.
public final class WriteBatcher<Write: Sendable, Output: Sendable>: Sendable {
  /// Writes the batch; one result per write, in order.
  public typealias Run = @Sendable ([Write]) async -> [Result<Output, any Error>]

  private enum Turn: Sendable {
    case done(Result<Output, any Error>)
    case lead
  }

  private struct Waiting: Sendable {
    let id: Int
    let key: String
    let write: Write
    let continuation: CheckedContinuation<Turn, Never>
  }

  private struct State: Sendable {
    var waiting: [Waiting] = []
    var running = 0
    var nextID = 0
  }

  public let limit: Int
  public let maxBatch: Int
  private let run: Run
  private let state = Mutex(State())

  /// - Parameters:
  ///   - limit: batches written at once (at least 1).
  ///   - maxBatch: writes in one batch at most (at least 1).
  public init(limit: Int, maxBatch: Int, run: @escaping Run) {
    self.limit = max(1, limit)
    self.maxBatch = max(1, maxBatch)
    self.run = run
  }

  /// Writes waiting for a batch (for tests and diagnostics).
  public var waitingCount: Int { state.withLock { $0.waiting.count } }

  /// Writes `write`, alone or in a batch with others, and returns its result.
  public func submit(_ write: Write, key: String) async throws -> Output {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    let turn = await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
        let leadNow = state.withLock { state in
          // Waiting writes mean every slot is taken: a newcomer never overtakes them.
          if state.running < limit && state.waiting.isEmpty {
            state.running += 1
            return true
          }
          state.waiting.append(Waiting(id: id, key: key, write: write, continuation: continuation))
          return false
        }
        if leadNow { continuation.resume(returning: .lead) }
      }
    } onCancel: {
      let removed = state.withLock { state -> Waiting? in
        guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
        return state.waiting.remove(at: index)
      }
      removed?.continuation.resume(returning: .done(.failure(CancellationError())))
    }
    switch turn {
    case .done(let result):
      return try result.get()
    case .lead:
      return try await lead(write, key: key)
    }
  }

  /// Writes `own` with every waiting write that fits, answers them, and hands the slot on.
  private func lead(_ own: Write, key: String) async throws -> Output {
    let taken = state.withLock { state -> [Waiting] in
      var keys: Set<String> = [key]
      var taken: [Waiting] = []
      var kept: [Waiting] = []
      for waiting in state.waiting {
        if taken.count < maxBatch - 1, keys.insert(waiting.key).inserted {
          taken.append(waiting)
        } else {
          kept.append(waiting)
        }
      }
      state.waiting = kept
      return taken
    }
    let writes = [own] + taken.map(\.write)
    let run = self.run
    let results = await Task { await run(writes) }.value
    precondition(results.count == writes.count, "a batch answers each of its writes")
    for (waiting, result) in zip(taken, results.dropFirst()) {
      waiting.continuation.resume(returning: .done(result))
    }
    let next = state.withLock { state -> Waiting? in
      if state.waiting.isEmpty {
        state.running -= 1
        return nil
      }
      // The slot passes on: `running` stays.
      return state.waiting.removeFirst()
    }
    next?.continuation.resume(returning: .lead)
    return try results[0].get()
  }
}
