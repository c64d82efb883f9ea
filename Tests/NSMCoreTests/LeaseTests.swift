import Foundation
import NSMCore
import Testing

@Suite("Lease")
struct LeaseTests {
  static let now = Date(timeIntervalSince1970: 1_700_000_000)

  /// `requested` and the expected result as offsets from `now` in seconds; nil for no date.
  @Test(
    "expiration(requested:now:period:)",
    arguments: [
      // The earlier of requested and now + period.
      (30.0 as Double?, Duration.seconds(60), 30.0 as Double?),
      (90, .seconds(60), 60),
      (60, .seconds(60), 60),
      (59.999, .seconds(60), 59.999),
      (3600, .milliseconds(1500), 1.5),
      // A requested time in the past is returned as is (validation rejects it elsewhere).
      (-10, .seconds(60), -10),
      // No requested time: now + period.
      (nil, .seconds(60), 60),
      (nil, .milliseconds(250), 0.25),
      (nil, .seconds(86_400), 86_400),
      // A zero (or negative) period imposes no limit: the requested time, or none.
      (3600, .zero, 3600),
      (nil, .zero, nil),
      (3600, .seconds(-60), 3600),
      (nil, .seconds(-60), nil),
    ]
  )
  func expiration(requested: Double?, period: Duration, expected: Double?) {
    let result = Lease.expiration(
      requested: requested.map { Self.now.addingTimeInterval($0) },
      now: Self.now,
      period: period
    )
    #expect(result == expected.map { Self.now.addingTimeInterval($0) })
  }

  @Test(
    "Duration.timeInterval",
    arguments: [
      (Duration.zero, 0.0),
      (.seconds(90), 90),
      (.milliseconds(250), 0.25),
      (.microseconds(1), 0.000_001),
      (.nanoseconds(1_500_000_001), 1.500_000_001),
      (.seconds(-2), -2),
      (.milliseconds(-1500), -1.5),
    ]
  )
  func timeInterval(duration: Duration, expected: TimeInterval) {
    #expect(abs(duration.timeInterval - expected) < 1e-12)
  }
}
