import NSMCore
import Testing

@Suite("GoDuration")
struct GoDurationTests {
  @Test(
    "parses Go duration strings",
    arguments: [
      ("0", Duration.zero),
      ("0s", .zero),
      ("0.0h", .zero),
      ("1m", .seconds(60)),
      ("90s", .seconds(90)),
      ("1m30s", .seconds(90)),
      ("30s1m", .seconds(90)),
      ("1.5h", .seconds(5400)),
      ("2h", .seconds(7200)),
      ("250ms", .milliseconds(250)),
      ("1.5s", .milliseconds(1500)),
      (".5s", .milliseconds(500)),
      ("500us", .microseconds(500)),
      ("500\u{B5}s", .microseconds(500)),  // MICRO SIGN
      ("500\u{3BC}s", .microseconds(500)),  // GREEK SMALL LETTER MU
      ("100ns", .nanoseconds(100)),
      ("1h2m3s4ms5us6ns", .nanoseconds(3_723_004_005_006)),
      ("1s1s", .seconds(2)),
      ("  1m  ", .seconds(60)),
      ("24h", .seconds(86_400)),
    ]
  )
  func parses(text: String, expected: Duration) throws {
    #expect(try GoDuration.parse(text) == expected)
  }

  @Test(
    "rejects malformed durations with INVALID_ARGUMENT",
    arguments: [
      ("", "empty duration"),
      ("   ", "empty duration"),
      ("5", "unit '' is not one of"),
      ("1x", "unit 'x' is not one of"),
      ("1 m", "unit ' m' is not one of"),
      ("1M", "unit 'M' is not one of"),
      ("1sec", "unit 'sec' is not one of"),
      ("1m30", "unit '' is not one of"),
      ("m", "expected a number at 'm'"),
      ("ms", "expected a number at 'ms'"),
      (".", "expected a number at '.'"),
      ("1..5s", "expected a number at '1..5s'"),
      ("-1m", "expected a number at '-1m'"),
      ("00", "unit '' is not one of"),
    ]
  )
  func rejects(text: String, mentions: String) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in _ = try GoDuration.parse(text) }
    expectMessage(error, contains: mentions)
  }

  @Test(
    "formats durations",
    arguments: [
      (Duration.seconds(60), "1m"),
      (.seconds(90), "90s"),
      (.milliseconds(250), "250ms"),
      (.seconds(1), "1s"),
      (.zero, "0s"),
      (.seconds(59), "59s"),
      (.seconds(120), "2m"),
      (.seconds(3600), "1h"),
      (.seconds(5400), "90m"),
      (.seconds(7200), "2h"),
      (.milliseconds(1500), "1500ms"),
    ]
  )
  func formats(duration: Duration, expected: String) {
    #expect(GoDuration.format(duration) == expected)
  }

  @Test(
    "format and parse round-trip",
    arguments: [
      Duration.seconds(60), .seconds(90), .milliseconds(250), .zero, .seconds(1), .seconds(3600),
      .seconds(5400), .milliseconds(1500), .seconds(86_400),
    ]
  )
  func roundTrips(_ duration: Duration) throws {
    #expect(try GoDuration.parse(GoDuration.format(duration)) == duration)
  }

  @Test(
    "format of a parsed string gives the canonical form",
    arguments: [
      ("1m", "1m"), ("60s", "1m"), ("90s", "90s"), ("1m30s", "90s"), ("250ms", "250ms"), ("0.25s", "250ms"),
      ("1.5h", "90m"), ("3600s", "1h"),
    ]
  )
  func canonicalForm(text: String, expected: String) throws {
    #expect(GoDuration.format(try GoDuration.parse(text)) == expected)
  }
}
