public import NSMStore
public import GRPCCore
public import NSMAPI
public import NSMCore

extension Registry_NetworkService: FederatedRecord {
  public static func route(
    _ record: Self,
    served: ServedDomains,
    implied: String?
  ) throws(NSMError) -> DomainTranslation.Route {
    try DomainTranslation.route(record, served: served, implied: implied)
  }

  public func stripped(domain: String) -> Self { DomainTranslation.stripped(self, domain: domain) }
  public func joined(domain: String) -> Self { DomainTranslation.joined(self, domain: domain) }

  public static func event(from response: Registry_NetworkServiceResponse) -> RecordEvent<Self>? {
    response.networkService.name.isEmpty
      ? nil : RecordEvent(record: response.networkService, deleted: response.deleted)
  }

  public static var snapshotMarker: Registry_NetworkServiceResponse { Registry_NetworkServiceResponse() }

  public static func register(
    _ record: Self,
    on client: RegistryClient,
    options: CallOptions,
    metadata: Metadata
  ) async throws -> (Self, Metadata) {
    try await client.networkServices.register(record, metadata: metadata, options: options) { response in
      (try response.message, response.metadata)
    }
  }

  public static func unregister(
    _ record: Self,
    on client: RegistryClient,
    options: CallOptions,
    metadata: Metadata
  ) async throws -> Metadata {
    try await client.networkServices.unregister(record, metadata: metadata, options: options) { response in
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
      @escaping @Sendable (Metadata, RPCAsyncSequence<Registry_NetworkServiceResponse, any Error>) async throws ->
      Result
  ) async throws -> Result {
    let request = Registry_NetworkServiceQuery.with {
      $0.networkService = query
      $0.watch = watch
    }
    return try await client.networkServices.find(request, metadata: metadata, options: options) { response in
      try await handle(response.metadata, response.messages)
    }
  }
}
