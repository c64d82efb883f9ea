public import Foundation
public import NSMAPI

/// When a client refreshes a connection (reference §4.2): at a fraction of the shortest time
/// any segment of its path has left, so that no hop's expiry ever closes it.
public enum RefreshSchedule {
  /// The delay until the refresh of `connection` as seen by the hop at its path's index.
  public static func delay(for connection: Connection_Connection, now: Date) -> Duration {
    let segments = connection.path.pathSegments
    let remaining = segments.compactMap { $0.hasExpires ? $0.expires.date.timeIntervalSince(now) : nil }.min()
    guard let remaining, remaining > 0 else { return .nanoseconds(1) }
    let scale: Double =
      segments.count <= 1 ? 1.0 / 3.0 : 0.2 + 0.2 * Double(connection.path.index) / Double(segments.count)
    return .milliseconds(Int64((remaining * scale * 1000).rounded(.down)))
  }
}
