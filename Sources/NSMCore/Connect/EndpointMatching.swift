public import NSMAPI

/// Which endpoints may serve a request for a network service: upstream's `MatchEndpoint`
/// (reference §3.3), value for value, so a NetworkService document selects here what it
/// selects upstream.
public enum EndpointMatching {
  /// The candidates, in match and route order, then the order of `endpoints`; an endpoint that
  /// several routes select appears several times (round robin then favours it, as upstream).
  /// Empty: no match applied, or the applying match selected nothing.
  public static func candidates(
    requestLabels: [String: String],
    service: Registry_NetworkService,
    endpoints: [Registry_NetworkServiceEndpoint]
  ) -> [Registry_NetworkServiceEndpoint] {
    if service.matches.isEmpty { return endpoints }
    for match in service.matches {
      guard LabelSelector.matches(requestLabels, selector: match.sourceSelector, requestLabels: requestLabels) else {
        continue
      }
      var selected: [Registry_NetworkServiceEndpoint] = []
      for route in match.routes {
        for endpoint in endpoints {
          let labels = endpoint.networkServiceLabels[service.name]?.labels ?? [:]
          if LabelSelector.matches(labels, selector: route.destinationSelector, requestLabels: requestLabels) {
            selected.append(endpoint)
          }
        }
      }
      if match.`fallthrough`, selected.isEmpty { continue }
      if match.hasMetadata, match.routes.isEmpty, selected.isEmpty { return endpoints }
      return selected
    }
    return []
  }

  /// Which match applied to `requestLabels` (its index), for error messages; nil when none.
  public static func appliedMatch(requestLabels: [String: String], service: Registry_NetworkService) -> Int? {
    service.matches.firstIndex {
      LabelSelector.matches(requestLabels, selector: $0.sourceSelector, requestLabels: requestLabels)
    }
  }
}
