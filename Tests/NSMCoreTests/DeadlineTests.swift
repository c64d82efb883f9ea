import Dispatch
import Foundation
import NSMCore
import Synchronization
import Testing

@Suite("Deadline")
struct DeadlineTests {
  final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
  }

  /// Work that ignores cancellation, as a connection attempt stuck in a handshake does, until
  /// the test lets it go.
  static func stuck(_ cancelled: Flag, until released: Flag) async {
    await withTaskCancellationHandler {
      while !released.isSet {
        await withCheckedContinuation { continuation in
          DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(5)) { continuation.resume() }
        }
      }
    } onCancel: {
      cancelled.set()
    }
  }

  @Test func theLimitHoldsForWorkThatIgnoresCancellation() async throws {
    let (cancelled, released, timedOut) = (Flag(), Flag(), Flag())
    defer { released.set() }
    await #expect(throws: NSMError.self) {
      try await Deadline.run(within: .seconds(5), time: AlreadyLate(), { await Self.stuck(cancelled, until: released) })
      {
        timedOut.set()
      }
    }
    #expect(timedOut.isSet)
    #expect(cancelled.isSet, "the work is told to stop")
  }

  /// A caller that goes away (its client disconnected) stops the work now, not at the limit.
  @Test func aCancelledCallerCancelsTheWork() async throws {
    let (cancelled, released) = (Flag(), Flag())
    defer { released.set() }
    let caller = Task {
      try await Deadline.run(within: .seconds(3600), { await Self.stuck(cancelled, until: released) })
    }
    try await Task.sleep(for: .milliseconds(50))
    caller.cancel()
    await #expect(throws: CancellationError.self) { try await caller.value }
    #expect(cancelled.isSet)
  }

  @Test func aResultWithinTheLimitIsReturned() async throws {
    #expect(try await Deadline.run(within: .seconds(3600), { 42 }) == 42)
  }
}

/// A clock whose every sleep ends at once: any limit has passed.
struct AlreadyLate: TimeSource {
  var now: ContinuousClock.Instant { .now }
  var date: Date { Date() }
  func sleep(until deadline: ContinuousClock.Instant) async throws {}
}
