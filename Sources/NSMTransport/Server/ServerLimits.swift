/// What a server of the project allows one client, and all of them (docs/architecture.md,
/// "Transport limits"). Every server (registry, manager, gateway) is built with these.
public struct ServerLimits: Sendable, Equatable {
  /// SETTINGS_MAX_CONCURRENT_STREAMS, advertised to every client: calls open at once on one
  /// connection. Compliant clients (grpc-go, grpcio, grpc-swift) queue calls beyond it; a
  /// client that ignores it loses its connection (SwiftNIO treats the excess stream as a
  /// connection error). Large, for watch-heavy clients: every watch is a stream.
  public var maxConcurrentStreams = 4096
  /// A connection that completes no HTTP/2 handshake (TLS included) within this is closed.
  public var handshakeTimeout: Duration = .seconds(10)
  /// A connection with no call open for this long is closed (the client reconnects when it
  /// needs to). A client that sends nothing at all for keepaliveTime + 2 × keepaliveTimeout is
  /// closed whatever its state.
  public var maxIdleTime: Duration = .seconds(300)
  /// The server pings a connection it has heard nothing from for this long ...
  public var keepaliveTime: Duration = .seconds(60)
  /// ... and closes it when the ping is not answered within this.
  public var keepaliveTimeout: Duration = .seconds(20)
  /// Pings a client may send more often than this count as abuse (three strikes close the
  /// connection). gRPC's default, 5 minutes, throws off grpc-go clients, whose flow control
  /// (BDP estimation) pings with every burst of data they receive; a real flood is thousands a
  /// second. Answering data resets the count, as in grpc-go's own server.
  public var minClientPingInterval: Duration = .milliseconds(10)
  /// Connections open at once; a connection beyond it is closed as soon as it is accepted.
  public var maxConnections = 10_000
  /// The largest request message read; larger ones are refused with RESOURCE_EXHAUSTED.
  public var maxRequestBytes = 4 * 1024 * 1024

  public init() {}
}
