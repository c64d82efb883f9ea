public import Foundation
public import NSMCore
internal import Synchronization

/// A clock a test moves by hand: ``advance(by:)`` wakes every sleeper whose deadline has come,
/// so a test of a 60 s idle timeout takes no time and cannot fail on a slow machine.
public final class ManualTime: TimeSource {
  private struct Sleeper {
    let deadline: ContinuousClock.Instant
    let continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    var offset: Duration = .zero
    var sleepers: [Int: Sleeper] = [:]
    var nextID = 0
  }

  private let start = ContinuousClock.now
  private let startDate = Date()
  private let state = Mutex(State())

  public init() {}

  public var now: ContinuousClock.Instant { start + state.withLock { $0.offset } }
  public var date: Date { startDate.addingTimeInterval(state.withLock { $0.offset }.timeInterval) }

  /// Tasks waiting in ``sleep(until:)`` now; a test waits for this to know a part is idle.
  public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

  public func sleep(until deadline: ContinuousClock.Instant) async throws {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let due = state.withLock { state -> Bool in
          if Task.isCancelled || start + state.offset >= deadline { return true }
          state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
          return false
        }
        if due {
          if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
        }
      }
    } onCancel: {
      state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Moves the clock forward and wakes every sleeper that is due.
  public func advance(by duration: Duration) {
    let due = state.withLock { state in
      state.offset += duration
      let now = start + state.offset
      let due = state.sleepers.filter { $0.value.deadline <= now }
      for id in due.keys { state.sleepers[id] = nil }
      return due.values.map(\.continuation)
    }
    for continuation in due { continuation.resume() }
  }

  /// Waits (in real time, briefly) until `count` tasks sleep on this clock: the point where a
  /// part under test has done everything it can do before time moves.
  public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(10)) async throws {
    let giveUp = ContinuousClock.now + timeout
    while sleeperCount < count {
      guard ContinuousClock.now < giveUp else {
        throw NSMError(.deadlineExceeded, "\(sleeperCount) of \(count) expected sleepers after \(timeout)")
      }
      await Task.yield()
      try await Task.sleep(for: .milliseconds(1))
    }
  }

}
