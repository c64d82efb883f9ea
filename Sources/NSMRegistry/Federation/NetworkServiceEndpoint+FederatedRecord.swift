public import NSMStore
public import GRPCCore
public import NSMAPI
public import NSMCore

extension Registry_NetworkServiceEndpoint: FederatedRecord {
  public static func route(
    _ record: Self,
    served: ServedDomains,
    implied: String?
  ) throws(NSMError) -> DomainTranslation.Route {
    try DomainTranslation.route(record, served: served, implied: implied)
  }

  public static var reachedThroughGateway: Bool { true }

  public func stripped(domain: String) -> Self { DomainTranslation.stripped(self, domain: domain) }
  public func joined(domain: String) -> Self { DomainTranslation.joined(self, domain: domain) }

  /// As upstream's nsmgr-proxy does (reference §2.3 c): the URL becomes this domain's gateway,
  /// and every service's label set gets the cluster labels, overwriting what was there.
  public func leavingHome(publicURL: String?, clusterLabels: [String: String]) -> Self {
    var nse = self
    if let publicURL { nse.url = publicURL }
    if !clusterLabels.isEmpty {
      for service in networkServiceNames {
        var set = nse.networkServiceLabels[service] ?? Registry_NetworkServiceLabels()
        set.labels.merge(clusterLabels) { _, cluster in cluster }
        nse.networkServiceLabels[service] = set
      }
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

  public static func event(from response: Registry_NetworkServiceEndpointResponse) -> RecordEvent<Self>? {
    response.networkServiceEndpoint.name.isEmpty
      ? nil : RecordEvent(record: response.networkServiceEndpoint, deleted: response.deleted)
  }

  public static var snapshotMarker: Registry_NetworkServiceEndpointResponse {
    Registry_NetworkServiceEndpointResponse()
  }

  public static func register(
    _ record: Self,
    on client: RegistryClient,
    options: CallOptions,
    metadata: Metadata
  ) async throws -> (Self, Metadata) {
    try await client.endpoints.register(record, metadata: metadata, options: options) { response in
      (try response.message, response.metadata)
    }
  }

  public static func unregister(
    _ record: Self,
    on client: RegistryClient,
    options: CallOptions,
    metadata: Metadata
  ) async throws -> Metadata {
    try await client.endpoints.unregister(record, metadata: metadata, options: options) { response in
      _ = try response.message
      return response.metadata
    }
  }

  public static func find<Result: Sendable>(
    _ query: Self,
    watch: Bool,
    on client: RegistryClient,
    options: CallOptions,
    metadata: Metadata,
    handle:
      @escaping @Sendable (Metadata, RPCAsyncSequence<Registry_NetworkServiceEndpointResponse, any Error>) async throws
      -> Result
  ) async throws -> Result {
    let request = Registry_NetworkServiceEndpointQuery.with {
      $0.networkServiceEndpoint = query
      $0.watch = watch
    }
    return try await client.endpoints.find(request, metadata: metadata, options: options) { response in
      try await handle(response.metadata, response.messages)
    }
  }
}
