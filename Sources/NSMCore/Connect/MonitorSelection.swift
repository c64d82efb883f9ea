public import NSMAPI

extension Connection_MonitorScopeSelector {
  /// Upstream's selector semantics (reference §4.6): an empty selector matches everything;
  /// `network_services` must name the connection's service; `path_segments` must occur as a
  /// contiguous run of the connection's path, empty fields matching anything.
  public func matches(_ connection: Connection_Connection) -> Bool {
    if !networkServices.isEmpty, !networkServices.contains(connection.networkService) { return false }
    if pathSegments.isEmpty { return true }
    let path = connection.path.pathSegments
    guard path.count >= pathSegments.count else { return false }
    for start in 0...(path.count - pathSegments.count) {
      let run = path[start..<(start + pathSegments.count)]
      if zip(run, pathSegments).allSatisfy({ Self.segment($0, matches: $1) }) { return true }
    }
    return false
  }

  private static func segment(_ segment: Connection_PathSegment, matches wanted: Connection_PathSegment) -> Bool {
    (wanted.name.isEmpty || wanted.name == segment.name) && (wanted.id.isEmpty || wanted.id == segment.id)
      && (wanted.token.isEmpty || wanted.token == segment.token)
  }
}
