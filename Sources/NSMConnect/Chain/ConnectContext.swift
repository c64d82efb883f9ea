public import Foundation
public import Logging
public import NSMAPI
public import NSMCore
public import NSMTransport

/// What travels with a Request or Close through one hop's chain, beside the message.
public struct ConnectContext: Sendable {
  public var logger: Logger
  /// When the caller stops waiting; calls to the next hop inherit it.
  public var deadline: ContinuousClock.Instant?
  /// The caller's verified identity, with mTLS.
  public var peer: WorkloadIdentity.Peer?
  /// The path token the caller presented in `nsm-client-token` metadata, and its expiry.
  public var incomingToken: IncomingToken?
  /// The next hop, once selection chose one; `connect` calls it.
  public var nextHop: NextHop?
  /// The endpoints discovery found, in selection order, with the network service.
  public var discovery: Discovery?
  /// Re-runs Close for this connection from the `begin` element on (expiry, heal); set by
  /// ``BeginElement``.
  public var events: ConnectionEvents?
  /// Set on the Close that ``BeginElement`` makes of a connection's old route before it
  /// reselects: the connection itself lives on, so no DELETE is reported for it.
  public var isReselecting = false
  /// At a gateway: into this domain or out of it (set by ``GatewayRouteElement``).
  public var crossing: DomainCrossing?

  public init(logger: Logger, deadline: ContinuousClock.Instant? = nil) {
    self.logger = logger
    self.deadline = deadline
  }

  public struct IncomingToken: Sendable, Equatable {
    public var token: String
    public var expires: Date?

    public init(token: String, expires: Date?) {
      self.token = token
      self.expires = expires
    }
  }

  public struct Discovery: Sendable {
    public var service: Registry_NetworkService
    public var candidates: [Registry_NetworkServiceEndpoint]
  }
}

/// Where `connect` sends a Request: an endpoint, directly or through the manager it registered
/// with.
public struct NextHop: Sendable, Hashable, CustomStringConvertible {
  public var address: ServiceAddress
  /// The endpoint the connection goes to.
  public var endpointName: String
  /// Whether the next hop is another manager (a remote vWire: VXLAN) rather than the endpoint
  /// itself (a local one: KERNEL).
  public var viaManager: Bool

  public init(address: ServiceAddress, endpointName: String, viaManager: Bool) {
    self.address = address
    self.endpointName = endpointName
    self.viaManager = viaManager
  }

  public var description: String {
    viaManager ? "\(endpointName) via manager \(address)" : "\(endpointName) at \(address)"
  }
}

/// Lets an element after `begin` start a Close of its connection later, serialized with the
/// Requests and Closes that arrive over the wire.
public struct ConnectionEvents: Sendable {
  public let close: @Sendable () async -> Void

  public init(close: @escaping @Sendable () async -> Void) {
    self.close = close
  }
}
