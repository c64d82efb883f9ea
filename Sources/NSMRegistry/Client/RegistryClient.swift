public import GRPCCore
public import GRPCNIOTransportHTTP2
public import NSMAPI
public import NSMAPIGRPC
public import NSMCore
public import NSMTransport

/// A client of both registry services over one HTTP/2 connection, as the CLI and the tests use
/// it. Calls keep the server's status: a failure throws the `RPCError` the server sent.
public struct RegistryClient: Sendable {
  public typealias Transport = HTTP2ClientTransport.Posix

  public let grpc: GRPCClient<Transport>
  public let networkServices: Registry_NetworkServiceRegistry.Client<Transport>
  public let endpoints: Registry_NetworkServiceEndpointRegistry.Client<Transport>

  public init(grpc: GRPCClient<Transport>) {
    self.grpc = grpc
    networkServices = .init(wrapping: grpc)
    endpoints = .init(wrapping: grpc)
  }

  /// Connects to `address`, runs `body`, and closes the connection.
  public static func with<Result: Sendable>(
    address: ServiceAddress,
    configure: (inout Transport.Config) -> Void = { _ in },
    _ body: (RegistryClient) async throws -> Result
  ) async throws -> Result {
    try await ClientFactory().with(address: address, configure: configure) { try await body(RegistryClient(grpc: $0)) }
  }

  /// Connects to `address` over mTLS as `identity`, runs `body`, and closes the connection.
  /// Every call carries this workload's path token for the registry; the registry's SPIFFE ID
  /// is learnt from a first handshake before `body` runs.
  public static func with<Result: Sendable>(
    address: ServiceAddress,
    identity: WorkloadIdentity,
    maxTokenLifetime: Duration = .seconds(600),
    pathTokens: Bool = true,
    _ body: (RegistryClient) async throws -> Result
  ) async throws -> Result {
    var factory = ClientFactory(identity: identity)
    factory.maxTokenLifetime = maxTokenLifetime
    // Without path tokens a test sends its own `path` metadata.
    factory.pathTokens = pathTokens
    return try await factory.with(address: address) { try await body(RegistryClient(grpc: $0)) }
  }

  public func register(_ ns: Registry_NetworkService) async throws -> Registry_NetworkService {
    try await networkServices.register(ns)
  }

  public func register(_ nse: Registry_NetworkServiceEndpoint) async throws -> Registry_NetworkServiceEndpoint {
    try await endpoints.register(nse)
  }

  public func unregister(_ ns: Registry_NetworkService) async throws {
    _ = try await networkServices.unregister(ns)
  }

  public func unregister(_ nse: Registry_NetworkServiceEndpoint) async throws {
    _ = try await endpoints.unregister(nse)
  }

  /// The Network Services matching `query` now (a Find without watch, read to its end).
  public func find(_ query: Registry_NetworkService) async throws -> [Registry_NetworkService] {
    let request = Registry_NetworkServiceQuery.with { $0.networkService = query }
    return try await networkServices.find(request) { response in
      var found: [Registry_NetworkService] = []
      for try await item in response.messages { found.append(item.networkService) }
      return found
    }
  }

  /// The endpoints matching `query` now (a Find without watch, read to its end).
  public func find(_ query: Registry_NetworkServiceEndpoint) async throws -> [Registry_NetworkServiceEndpoint] {
    let request = Registry_NetworkServiceEndpointQuery.with { $0.networkServiceEndpoint = query }
    return try await endpoints.find(request) { response in
      var found: [Registry_NetworkServiceEndpoint] = []
      for try await item in response.messages { found.append(item.networkServiceEndpoint) }
      return found
    }
  }
}
