public import NSMAPI
internal import NSMAPIGRPC
public import NSMStore

extension Registry_NetworkServiceEndpoint: FederatedRecord {
  public static let methods = RegistryMethods(
    register: Registry_NetworkServiceEndpointRegistry.Method.Register.descriptor,
    find: Registry_NetworkServiceEndpointRegistry.Method.Find.descriptor,
    unregister: Registry_NetworkServiceEndpointRegistry.Method.Unregister.descriptor
  )

  public static func query(_ template: Self, watch: Bool) -> Registry_NetworkServiceEndpointQuery {
    .with {
      $0.networkServiceEndpoint = template
      $0.watch = watch
    }
  }

  public static func findRequest(_ query: Registry_NetworkServiceEndpointQuery) -> FindRequest<Self> {
    FindRequest(query: query.networkServiceEndpoint, watch: query.watch)
  }

  public static func event(from response: Registry_NetworkServiceEndpointResponse) -> RecordEvent<Self>? {
    response.hasNetworkServiceEndpoint && !response.networkServiceEndpoint.name.isEmpty
      ? RecordEvent(record: response.networkServiceEndpoint, deleted: response.deleted) : nil
  }

  public static var reachedThroughGateway: Bool { true }

  /// As upstream's nsmgr-proxy does (reference §2.3 c): the URL becomes this domain's gateway,
  /// and every service's label set gets the cluster labels, overwriting what was there.
  public func leavingHome(publicURL: String?, clusterLabels: [String: String]) -> Self {
    var nse = self
    if let publicURL { nse.url = publicURL }
    for service in networkServiceNames where !clusterLabels.isEmpty {
      nse.networkServiceLabels[service, default: Registry_NetworkServiceLabels()].labels.merge(clusterLabels) { $1 }
    }
    return nse
  }

  public func returningHome(from original: Self) -> Self {
    var nse = self
    nse.url = original.url
    return nse
  }

  public func arriving(gatewayURL: String?) -> Self {
    guard let gatewayURL else { return self }
    var nse = self
    nse.url = gatewayURL
    return nse
  }
}
