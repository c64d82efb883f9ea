internal import Foundation
public import GRPCCore
public import GRPCNIOTransportHTTP2
internal import NIOCore
public import NSMCore

/// A gRPC server as every long-lived command of the project runs one: on a tcp or unix
/// address, plaintext or mTLS with SPIFFE verification, hardened against hostile clients
/// (``ServerLimits``, ``GuardedServerTransport``, the connection and request-size guards).
public final class GRPCServerHost: Sendable {
  public typealias Transport = GuardedServerTransport<HTTP2ServerTransport.Posix>

  public let address: ServiceAddress
  public let limits: ServerLimits
  private let transport: HTTP2ServerTransport.Posix
  private let server: GRPCServer<Transport>
  private let connections: ConnectionGuard

  public init(
    address: ServiceAddress,
    identity: WorkloadIdentity?,
    limits: ServerLimits = ServerLimits(),
    services: [any RegistrableRPCService],
    interceptors: [any ServerInterceptor] = []
  ) throws {
    self.address = address
    self.limits = limits
    if case .unix(let path) = address {
      // A socket file left by a previous run would make the bind fail.
      try? FileManager.default.removeItem(atPath: path)
    }
    let connections = ConnectionGuard(limits: limits)
    self.connections = connections
    transport = HTTP2ServerTransport.Posix(
      address: try address.bindAddress(),
      transportSecurity: try identity?.serverSecurity() ?? .plaintext,
      config: Self.config(limits, connections: connections)
    )
    server = GRPCServer(transport: GuardedServerTransport(transport), services: services, interceptors: interceptors)
  }

  static func config(_ limits: ServerLimits, connections: ConnectionGuard) -> HTTP2ServerTransport.Posix.Config {
    var config = HTTP2ServerTransport.Posix.Config.defaults
    config.http2.maxConcurrentStreams = limits.maxConcurrentStreams
    config.connection.maxIdleTime = limits.maxIdleTime
    config.connection.keepalive = .init(
      time: limits.keepaliveTime,
      timeout: limits.keepaliveTimeout,
      clientBehavior: .init(minPingIntervalWithoutCalls: limits.minClientPingInterval, allowWithoutCalls: true)
    )
    config.rpc.maxRequestPayloadSize = limits.maxRequestBytes
    let maxRequestBytes = limits.maxRequestBytes
    // The transport's accept hooks are the one place to add handlers to its connections and
    // streams; they run once its own handlers are in place.
    config.channelDebuggingCallbacks.onAcceptTCPConnection = { connections.accept($0) }
    config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
      stream.eventLoop.makeCompletedFuture {
        try stream.pipeline.syncOperations.addHandler(RequestSizeGuard(limit: maxRequestBytes), position: .first)
      }
    }
    return config
  }

  /// Connections open now.
  public var connectionCount: Int { connections.count }

  /// The address the server listens on, once it does (resolves port 0).
  public var listeningAddress: ServiceAddress {
    get async throws {
      let address = try await transport.listeningAddress
      guard let converted = ServiceAddress(address) else {
        throw NSMError(.internal, "unsupported listening address \(address)")
      }
      return converted
    }
  }

  /// Where every call's handler runs: on the event loop of its connection.
  static let executor = EventLoopExecutor()

  /// Serves until ``beginGracefulShutdown()`` (open calls finish) or cancellation. The calls'
  /// handlers (child tasks of this one) run on the event loops (``EventLoopExecutor``).
  public func serve() async throws {
    try await withTaskExecutorPreference(Self.executor) {
      try await server.serve()
    }
  }

  public func beginGracefulShutdown() {
    server.beginGracefulShutdown()
  }
}
