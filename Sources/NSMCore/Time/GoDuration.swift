internal import Foundation

/// Durations written the way NSM's Go components take them (`NSM_EXPIRE_PERIOD=1m`):
/// a sequence of decimal numbers with units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`,
/// such as `90s`, `1m30s`, `1.5h` or `250ms`. A bare `0` is zero.
public enum GoDuration {
  public static func parse(_ text: String) throws(NSMError) -> Duration {
    let input = text.trimmingCharacters(in: .whitespaces)
    if input == "0" { return .zero }
    if input.isEmpty { throw .invalidArgument("empty duration") }
    var rest = Substring(input)
    var total = 0.0
    while !rest.isEmpty {
      let number = rest.prefix(while: { $0.isNumber || $0 == "." })
      guard !number.isEmpty, let value = Double(number) else {
        throw .invalidArgument("invalid duration '\(text)': expected a number at '\(rest)'")
      }
      rest = rest.dropFirst(number.count)
      let unit = rest.prefix(while: { !$0.isNumber && $0 != "." })
      rest = rest.dropFirst(unit.count)
      guard let scale = unitSeconds[String(unit)] else {
        throw .invalidArgument(
          "invalid duration '\(text)': unit '\(unit)' is not one of ns, us, ms, s, m, h"
        )
      }
      total += value * scale
    }
    // Go's limit: an int64 of nanoseconds (about 292 years).
    let nanoseconds = (total * 1e9).rounded()
    guard nanoseconds < 9.2e18 else {
      throw .invalidArgument("invalid duration '\(text)': longer than 290 years")
    }
    return .nanoseconds(Int64(nanoseconds))
  }

  /// Formats a duration in the same notation, for logs and help texts.
  public static func format(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    if attoseconds == 0 {
      if seconds % 3600 == 0, seconds != 0 { return "\(seconds / 3600)h" }
      if seconds % 60 == 0, seconds != 0 { return "\(seconds / 60)m" }
      return "\(seconds)s"
    }
    if attoseconds % 1_000_000_000_000_000 == 0 {
      return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms"
    }
    if attoseconds % 1_000_000_000_000 == 0 {
      return "\(seconds * 1_000_000 + attoseconds / 1_000_000_000_000)us"
    }
    return "\(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)ns"
  }

  private static let unitSeconds: [String: Double] = [
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
  ]
}
