public import GRPCCore
public import GRPCNIOTransportHTTP2
public import NSMCore

/// How every client of the project dials: plaintext or mTLS as this workload, with the same
/// reconnect back-off, keepalive and interceptors, whether it is a CLI call, a workload talking
/// to its manager or a registry calling a peer.
public struct ClientFactory: Sendable {
  public var identity: WorkloadIdentity?
  /// Longest lifetime of the path tokens the client's interceptor signs.
  public var maxTokenLifetime: Duration = .seconds(600)
  /// Whether calls carry this workload's path token (a registry's own `path` metadata when not).
  public var pathTokens = false

  public init(identity: WorkloadIdentity? = nil) {
    self.identity = identity
  }

  /// A client for `address`; its connection's verified server identity goes to `box`.
  public func client(
    for address: ServiceAddress,
    box: PeerIdentityBox = PeerIdentityBox(),
    configure: (inout HTTP2ClientTransport.Posix.Config) -> Void = { _ in }
  ) throws -> GRPCClient<HTTP2ClientTransport.Posix> {
    var config = HTTP2ClientTransport.Posix.Config.defaults
    // A restarted peer should be reached again within seconds, not the two minutes gRPC's
    // default back-off grows to; keepalive notices a peer that vanished under an idle watch.
    config.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
    config.connection.keepalive = .init(time: .seconds(30), timeout: .seconds(10), allowWithoutCalls: false)
    configure(&config)
    let transport = try HTTP2ClientTransport.Posix(
      target: address.clientTarget,
      transportSecurity: try identity?.clientSecurity(remember: { box.set($0) }) ?? .plaintext,
      config: config
    )
    var interceptors: [any ClientInterceptor] = [MetadataLimitInterceptor()]
    if pathTokens, let identity {
      interceptors.append(PathTokenInterceptor(identity: identity, peer: box, maxTokenLifetime: maxTokenLifetime))
    }
    return GRPCClient(transport: transport, interceptors: interceptors)
  }

  /// Connects to `address`, runs `body` once the connection is up (and, with mTLS, the server
  /// identified), and closes the connection.
  public func with<Result: Sendable>(
    address: ServiceAddress,
    connectTimeout: Duration = .seconds(10),
    configure: (inout HTTP2ClientTransport.Posix.Config) -> Void = { _ in },
    _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
  ) async throws -> Result {
    let box = PeerIdentityBox()
    let grpc = try client(for: address, box: box, configure: configure)
    return try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await grpc.runConnections() }
      defer { grpc.beginGracefulShutdown() }
      if identity != nil {
        try await ConnectionProbe.connect(grpc, identity: box, timeout: connectTimeout)
      }
      return try await body(grpc)
    }
  }
}
