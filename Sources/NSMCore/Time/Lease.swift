public import Foundation

/// How long a registration lives. Endpoint registrations are leases: the registrant renews them
/// (upstream's refresh client does so at 2/3 of the period) and the registry removes them when
/// they run out.
public enum Lease {
  /// The earliest of the expiration the registrant asked for, `now + period` and `cap`.
  /// A period of zero means "no registry-imposed period", as upstream.
  public static func expiration(requested: Date?, now: Date, period: Duration, cap: Date? = nil) -> Date? {
    let limit = period > .zero ? now.addingTimeInterval(period.timeInterval) : nil
    return [requested, limit, cap].compactMap { $0 }.min()
  }
}

extension Duration {
  /// The duration in (fractional) seconds.
  public var timeInterval: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
  }
}
