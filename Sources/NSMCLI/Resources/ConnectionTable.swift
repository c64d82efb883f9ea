internal import Foundation
internal import NSMAPI
internal import Synchronization

/// Connections as `nsm client` and `nsm get connections` print them: fixed columns, so rows
/// printed one at a time as events arrive still line up.
enum ConnectionTable {
  static let eventHeader = ["EVENT", "SERVICE", "ENDPOINT", "STATE", "ADDRESS", "PATH"]
  static let header = ["ID", "SERVICE", "ENDPOINT", "STATE", "EXPIRES", "PATH"]
  private static let widths = [14, 24, 24, 8, 20]

  static func eventRow(_ event: String, _ connection: Connection_Connection) -> [String] {
    [
      event, connection.networkService, connection.networkServiceEndpointName, state(connection),
      connection.context.ipContext.srcIpAddrs.joined(separator: ","), path(connection),
    ]
  }

  static func row(_ connection: Connection_Connection, now: Date = Date()) -> [String] {
    [
      String(connection.id.prefix(13)), connection.networkService, connection.networkServiceEndpointName,
      state(connection), expires(connection, now: now), path(connection),
    ]
  }

  static func line(_ cells: [String]) -> String {
    cells.enumerated().map { index, cell in
      index < widths.count ? cell.padding(toLength: max(widths[index], cell.count), withPad: " ", startingAt: 0) : cell
    }.joined(separator: " ") + "\n"
  }

  static func state(_ connection: Connection_Connection) -> String {
    switch connection.state {
    case .up: "UP"
    case .down: "DOWN"
    case .refreshRequested: "REFRESH"
    case .reselectRequested: "RESELECT"
    default: "\(connection.state.rawValue)"
    }
  }

  /// The hops, this hop's own marked with brackets.
  static func path(_ connection: Connection_Connection) -> String {
    connection.path.pathSegments.enumerated().map { index, segment in
      index == Int(connection.path.index) ? "[\(segment.name)]" : segment.name
    }.joined(separator: " > ")
  }

  /// When the earliest segment expires, as seconds from now.
  static func expires(_ connection: Connection_Connection, now: Date) -> String {
    let dates = connection.path.pathSegments.filter(\.hasExpires).map(\.expires.date)
    guard let earliest = dates.min() else { return "-" }
    let seconds = Int(earliest.timeIntervalSince(now).rounded())
    return seconds >= 0 ? "in \(seconds)s" : "\(-seconds)s ago"
  }
}

/// True the first time it is asked, then false.
final class OnceFlag: Sendable {
  private let set = Mutex(false)

  /// Whether it was already set; sets it.
  func testAndSet() -> Bool {
    set.withLock { set in
      defer { set = true }
      return set
    }
  }
}
