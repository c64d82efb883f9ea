public import Foundation
public import NSMAPI

/// Upstream's `updatepath` (reference §4.1): every hop owns one segment of the connection's
/// path and its own connection id, the segment's id.
public enum PathUpdate {
  /// Moves `connection` onto the segment named `name` and returns the index the caller had,
  /// which the answer is put back to (``restore(_:index:)``).
  ///
  /// - A new path gets segment 0 (the connection's id, or a fresh one).
  /// - A path whose current segment is already `name` (a refresh, or a client and server in one
  ///   process) keeps it.
  /// - Otherwise the next segment becomes this hop's: kept when it has this name (a refresh
  ///   through the same hops), renamed with a fresh id when another hop held it (a reselect).
  public static func enter(
    _ connection: inout Connection_Connection,
    name: String,
    newID: () -> String = { UUID().uuidString.lowercased() }
  ) throws(NSMError) -> UInt32 {
    var path = connection.path
    if path.pathSegments.isEmpty {
      var segment = Connection_PathSegment()
      segment.name = name
      segment.id = connection.id.isEmpty ? newID() : connection.id
      path.pathSegments = [segment]
      path.index = 0
      connection.path = path
      connection.id = segment.id
      return 0
    }
    let index = Int(path.index)
    guard index < path.pathSegments.count else {
      throw .invalidArgument(
        "path index \(index) is outside the path's \(path.pathSegments.count) segments"
      )
    }
    if path.pathSegments[index].name == name {
      connection.id = path.pathSegments[index].id
      return path.index
    }
    guard path.pathSegments[index].id == connection.id else {
      throw .invalidArgument(
        "connection id '\(connection.id)' is not the id of the current path segment ('\(path.pathSegments[index].id)')"
      )
    }
    let next = index + 1
    if next < path.pathSegments.count, path.pathSegments[next].name != name {
      path.pathSegments[next] = Connection_PathSegment()
      path.pathSegments[next].name = name
      path.pathSegments[next].id = newID()
    }
    if next >= path.pathSegments.count {
      var segment = Connection_PathSegment()
      segment.name = name
      segment.id = newID()
      path.pathSegments.append(segment)
    }
    path.index = UInt32(next)
    connection.path = path
    connection.id = path.pathSegments[next].id
    return UInt32(index)
  }

  /// Puts an answer back to the view of the hop whose index is `index`.
  public static func restore(_ connection: inout Connection_Connection, index: UInt32) {
    guard Int(index) < connection.path.pathSegments.count else { return }
    connection.path.index = index
    connection.id = connection.path.pathSegments[Int(index)].id
  }

  /// Upstream's `trimpath`: the last hop drops segments that a previous route left behind it.
  public static func trim(_ connection: inout Connection_Connection) {
    let keep = Int(connection.path.index) + 1
    if connection.path.pathSegments.count > keep {
      connection.path.pathSegments.removeSubrange(keep...)
    }
  }
}

extension Connection_Connection {
  /// This hop's segment, when the index is inside the path.
  public var currentSegment: Connection_PathSegment? {
    let index = Int(path.index)
    return index < path.pathSegments.count ? path.pathSegments[index] : nil
  }

  /// The segment of the hop that called this one.
  public var previousSegment: Connection_PathSegment? {
    let index = Int(path.index)
    return index >= 1 && index <= path.pathSegments.count ? path.pathSegments[index - 1] : nil
  }
}
