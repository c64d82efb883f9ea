public import GRPCCore
public import NSMAPI
internal import NSMAPIGRPC
public import NSMStore

extension Registry_NetworkServiceEndpoint: FederatedRecord {
  public typealias Query = Registry_NetworkServiceEndpointQuery
  public static var service: ServiceDescriptor { Registry_NetworkServiceEndpointRegistry.descriptor }

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

  public func withLease(of answer: Self) -> Self {
    var nse = self
    if answer.hasExpirationTime { nse.expirationTime = answer.expirationTime }
    return nse
  }
}

extension Registry_NetworkServiceEndpointQuery: RegistryQuery {
  public var template: Registry_NetworkServiceEndpoint {
    get { networkServiceEndpoint }
    set { networkServiceEndpoint = newValue }
  }
}
