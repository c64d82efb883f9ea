public import Foundation

/// Where a long-lived part reads the time and waits: the system clock in production, a clock
/// that tests advance by hand, so expiry, caches, back-off and idle timeouts are tested without
/// sleeping (or skipping a timing claim on a slow machine).
///
/// `now` and `date` move together: `date` is the wall clock for what goes on the wire
/// (expiration times, token `exp`), `now` the monotonic clock for intervals.
public protocol TimeSource: Sendable {
  var now: ContinuousClock.Instant { get }
  var date: Date { get }
  /// Returns once `now` has reached `deadline`; throws `CancellationError` when cancelled first.
  func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension TimeSource {
  public func sleep(for duration: Duration) async throws {
    try await sleep(until: now + duration)
  }
}

/// The system's clocks.
public struct SystemTime: TimeSource {
  public init() {}

  public var now: ContinuousClock.Instant { .now }
  public var date: Date { Date() }

  public func sleep(until deadline: ContinuousClock.Instant) async throws {
    try await Task.sleep(until: deadline, clock: .continuous)
  }
}

extension TimeSource where Self == SystemTime {
  public static var system: SystemTime { SystemTime() }
}
