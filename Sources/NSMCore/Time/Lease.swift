public import Foundation

/// How long a registration lives. Endpoint registrations are leases: the registrant renews them
/// (upstream's refresh client does so at 2/3 of the period) and the registry removes them when
/// they run out.
public enum Lease {
  /// The earlier of the expiration the registrant asked for and `now + period`.
  /// A period of zero means "no registry-imposed limit", as upstream.
  public static func expiration(requested: Date?, now: Date, period: Duration) -> Date? {
    guard period > .zero else { return requested }
    let limit = now.addingTimeInterval(period.timeInterval)
    guard let requested else { return limit }
    return min(requested, limit)
  }
}

extension Duration {
  /// The duration in (fractional) seconds.
  public var timeInterval: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
  }
}
