public import Foundation

/// Times as upstream NSM puts them in metadata (`nsm-client-token-expires`): Go's RFC3339Nano,
/// `2026-12-02T11:00:00.123456789Z`, trailing zeros of the fraction dropped.
public enum RFC3339 {
  public static func format(_ date: Date) -> String {
    let interval = date.timeIntervalSince1970
    var seconds = Int64(interval.rounded(.down))
    var nanos = Int64(((interval - Double(seconds)) * 1e9).rounded())
    if nanos >= 1_000_000_000 {
      seconds += 1
      nanos -= 1_000_000_000
    }
    let (year, month, day) = civil(fromDays: Int64(floorDiv(seconds, 86_400)))
    let secondOfDay = seconds - floorDiv(seconds, 86_400) * 86_400
    var text =
      "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
    if nanos > 0 {
      var fraction = pad(nanos, 9)
      while fraction.hasSuffix("0") { fraction.removeLast() }
      text += "." + fraction
    }
    return text + "Z"
  }

  /// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil for anything else.
  public static func parse(_ text: String) -> Date? {
    let bytes = Array(text.utf8)
    guard bytes.count >= 20 else { return nil }
    func number(_ range: Range<Int>) -> Int64? {
      var value: Int64 = 0
      for index in range {
        guard index < bytes.count, (48...57).contains(bytes[index]) else { return nil }
        value = value * 10 + Int64(bytes[index] - 48)
      }
      return value
    }
    guard let year = number(0..<4), bytes[4] == 45, let month = number(5..<7), bytes[7] == 45,
      let day = number(8..<10), bytes[10] == 84 || bytes[10] == 116, let hour = number(11..<13), bytes[13] == 58,
      let minute = number(14..<16), bytes[16] == 58, let second = number(17..<19),
      (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }
    var index = 19
    var fraction = 0.0
    if bytes[index] == 46 {
      index += 1
      var scale = 0.1
      let start = index
      while index < bytes.count, (48...57).contains(bytes[index]) {
        fraction += Double(bytes[index] - 48) * scale
        scale /= 10
        index += 1
      }
      guard index > start else { return nil }
    }
    guard index < bytes.count else { return nil }
    var offset: Int64 = 0
    if bytes[index] == 90 || bytes[index] == 122 {
      index += 1
    } else if bytes[index] == 43 || bytes[index] == 45 {
      guard let hours = number((index + 1)..<(index + 3)), index + 3 < bytes.count, bytes[index + 3] == 58,
        let minutes = number((index + 4)..<(index + 6))
      else { return nil }
      offset = (hours * 3600 + minutes * 60) * (bytes[index] == 45 ? -1 : 1)
      index += 6
    } else {
      return nil
    }
    guard index == bytes.count else { return nil }
    let days = days(fromCivil: year, month, day)
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
    return Date(timeIntervalSince1970: Double(seconds) + fraction)
  }

  private static func pad(_ value: Int64, _ width: Int) -> String {
    let text = String(value)
    return String(repeating: "0", count: max(0, width - text.count)) + text
  }

  private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    a >= 0 ? a / b : -((-a + b - 1) / b)
  }

  // Howard Hinnant's days-from-civil and its inverse: exact for the proleptic Gregorian calendar.
  private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = floorDiv(y, 400)
    let yoe = y - era * 400
    let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
    let z = days + 719_468
    let era = floorDiv(z, 146_097)
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
  }
}
