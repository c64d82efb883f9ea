public import NSMAPI

// Upstream NSM's registry query semantics (reference §3.8): a query is a template of the same
// message, and every empty field of it is a wildcard.

extension Registry_NetworkService {
  /// Whether this Network Service answers `query`: name exact, payload exact, matches equal,
  /// each only when set in the query.
  public func matches(query: Registry_NetworkService) -> Bool {
    (query.name.isEmpty || query.name == name)
      && (query.payload.isEmpty || query.payload == payload)
      && (query.matches.isEmpty || query.matches == matches)
  }
}

extension Registry_NetworkServiceEndpoint {
  /// Whether this endpoint answers `query`:
  /// - `name` exact (`nse-1` never matches `nse-10`);
  /// - `network_service_names`: the query's names are a subset of the endpoint's;
  /// - `network_service_labels`: for each service in the query, the endpoint has labels for
  ///   that service and they contain the query's labels;
  /// - `url` by substring;
  /// - `expiration_time` by whole seconds.
  public func matches(query: Registry_NetworkServiceEndpoint) -> Bool {
    if !query.name.isEmpty, query.name != name { return false }
    if !query.networkServiceNames.isEmpty {
      let own = Set(networkServiceNames)
      if !query.networkServiceNames.allSatisfy(own.contains) { return false }
    }
    for (service, wanted) in query.networkServiceLabels {
      // As upstream: a service the endpoint has no labels for never matches.
      guard let have = networkServiceLabels[service]?.labels else { return false }
      for (key, value) in wanted.labels where have[key] != value {
        return false
      }
    }
    if !query.url.isEmpty, !url.contains(query.url) { return false }
    if query.hasExpirationTime, query.expirationTime.seconds != expirationTime.seconds {
      return false
    }
    return true
  }
}
