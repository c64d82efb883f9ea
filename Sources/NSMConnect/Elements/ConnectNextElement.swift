public import Foundation
public import GRPCCore
public import GRPCNIOTransportHTTP2
internal import Logging
public import NSMAPI
internal import NSMAPIGRPC
public import NSMCore
public import NSMTransport
internal import SwiftProtobuf
internal import Synchronization

/// Upstream's `connect` (the client half of a hop): sends the Request on to the next hop that
/// selection chose, with the mechanism that hop needs (KERNEL to an endpoint on this node,
/// VXLAN from this node's tunnel address to another node's manager), and remembers the route
/// so refreshes and the Close take it again.
public struct ConnectNextElement: ConnectElement {
  public let caller: NextHopCaller
  public let routes: Routes
  public let tunnelIP: String?
  /// This node's VNIs: a remote connection offers one free here (keyed apart from the incoming
  /// side's, which ``MechanismElement`` keeps under the connection id).
  public let vnis: VNIAllocator

  public init(caller: NextHopCaller, routes: Routes, tunnelIP: String?, vnis: VNIAllocator = VNIAllocator()) {
    self.caller = caller
    self.routes = routes
    self.tunnelIP = tunnelIP
    self.vnis = vnis
  }

  static func outgoingKey(_ id: String) -> String { "out:" + id }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    guard let hop = context.nextHop else {
      throw NSMError(.internal, "no next hop was selected for connection \(request.connection.id)")
    }
    let id = request.connection.id
    let previous = routes.route(of: id)
    var outgoing = request
    outgoing.connection.mechanism = previous?.hop == hop ? previous!.mechanism : Connection_Mechanism()
    if hop.viaManager {
      guard let tunnelIP else {
        throw NSMError.unavailable(
          "endpoint '\(hop.endpointName)' is on another node and this manager has no tunnel address"
        )
      }
      var offer = Mechanisms.vxlan(sourceIP: tunnelIP)
      offer.parameters[Mechanisms.Key.vni] = String(try vnis.reserve(connection: Self.outgoingKey(id)))
      outgoing.mechanismPreferences = [offer]
    } else {
      outgoing.mechanismPreferences = [Mechanisms.kernel(interface: nil, inodeURL: nil)]
    }
    if let previous, previous.hop != hop {
      // Selection moved the connection (a reselect): the old route is closed by `begin`;
      // forget it here so its monitor no longer reports for this connection.
      routes.remove(id)
    }
    var answer: Connection_Connection
    do {
      answer = try await hop.namedWhenUnreachable {
        try await caller.request(outgoing, at: hop.address, deadline: context.deadline)
      }
    } catch {
      // A new connection that did not come about holds no VNI here.
      if previous == nil || previous?.hop != hop { vnis.release(connection: Self.outgoingKey(id)) }
      throw error
    }
    if !hop.viaManager { vnis.release(connection: Self.outgoingKey(id)) }
    if answer.mechanism.type == Mechanisms.vxlan,
      let vni = answer.mechanism.parameters[Mechanisms.Key.vni].flatMap(UInt32.init),
      !vnis.adopt(vni, connection: Self.outgoingKey(id))
    {
      context.logger.warning(
        "the other node chose a VNI in use here; the vWire will fail",
        metadata: ["connection": "\(id)", "vni": "\(vni)"]
      )
    }
    routes.set(id, Route(hop: hop, mechanism: answer.mechanism))
    answer.mechanism = request.connection.mechanism
    return answer
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    guard let route = routes.remove(connection.id) ?? context.nextHop.map({ Route(hop: $0, mechanism: .init()) })
    else {
      try await next.close(connection, context: context)
      return
    }
    defer { vnis.release(connection: Self.outgoingKey(connection.id)) }
    var outgoing = connection
    outgoing.mechanism = route.mechanism
    outgoing.networkServiceEndpointName = route.hop.endpointName
    try await route.hop.namedWhenUnreachable {
      try await caller.close(outgoing, at: route.hop.address, deadline: context.deadline)
    }
    try await next.close(connection, context: context)
  }
}

extension NextHop {
  /// Runs a call to this hop; an UNAVAILABLE it fails with names the hop, so the error that
  /// reaches the client says which hop of the route could not be reached.
  func namedWhenUnreachable<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
      return try await body()
    } catch let error as RPCError where error.code == .unavailable {
      throw RPCError(code: .unavailable, message: "\(self) is unreachable: \(error.message)")
    } catch let error as NSMError where error.code == .unavailable {
      throw NSMError.unavailable("\(self) is unreachable: \(error.message)")
    }
  }
}

public typealias PeerTransport = HTTP2ClientTransport.Posix

/// The route each connection took out of this hop: its next hop and that side's mechanism.
public struct Route: Sendable, Equatable {
  public var hop: NextHop
  public var mechanism: Connection_Mechanism
}

public final class Routes: Sendable {
  private let routes = Mutex<[String: Route]>([:])
  private let onChange: @Sendable (String, Route?) -> Void

  public init(onChange: @escaping @Sendable (String, Route?) -> Void = { _, _ in }) {
    self.onChange = onChange
  }

  public func route(of id: String) -> Route? { routes.withLock { $0[id] } }

  func set(_ id: String, _ route: Route) {
    routes.withLock { $0[id] = route }
    onChange(id, route)
  }

  @discardableResult
  func remove(_ id: String) -> Route? {
    let removed = routes.withLock { $0.removeValue(forKey: id) }
    if removed != nil { onChange(id, nil) }
    return removed
  }

  public var count: Int { routes.withLock { $0.count } }
}

/// The metadata a client hop sends with each call (reference §4.2): its path token for the
/// next hop and the token's expiry, RFC 3339 with nanoseconds as upstream writes it.
public enum ClientToken {
  public static let tokenKey = "nsm-client-token"
  public static let expiresKey = "nsm-client-token-expires"

  /// A hop's token for `peer` (none on plaintext) and its expiry.
  public struct Issued: Sendable {
    public var token: String?
    public var expires: Date

    /// The call metadata that presents it.
    public var metadata: Metadata {
      var metadata: Metadata = [:]
      if let token { metadata.addString(token, forKey: ClientToken.tokenKey) }
      metadata.addString(RFC3339.format(expires), forKey: ClientToken.expiresKey)
      return metadata
    }
  }

  public static func issue(
    identity: WorkloadIdentity?,
    peer: WorkloadIdentity.Peer?,
    maxTokenLifetime: Duration,
    now: Date
  ) async throws -> Issued {
    guard let identity else {
      return Issued(token: nil, expires: now.addingTimeInterval(maxTokenLifetime.timeInterval))
    }
    let token = try await identity.token(
      for: peer?.id,
      peerNotAfter: peer?.notAfter,
      maxLifetime: maxTokenLifetime,
      now: now
    )
    return Issued(token: token.text, expires: token.claims.expires)
  }

  public static func metadata(
    identity: WorkloadIdentity?,
    peer: WorkloadIdentity.Peer?,
    maxTokenLifetime: Duration,
    now: Date
  ) async throws -> Metadata {
    try await issue(identity: identity, peer: peer, maxTokenLifetime: maxTokenLifetime, now: now).metadata
  }

  /// What a server reads from a call's metadata; nil when the caller sent neither.
  public static func incoming(_ metadata: Metadata) throws(NSMError) -> ConnectContext.IncomingToken? {
    let token = metadata[stringValues: tokenKey].first(where: { _ in true })
    let expiresText = metadata[stringValues: expiresKey].first(where: { _ in true })
    if token == nil, expiresText == nil { return nil }
    var expires: Date?
    if let expiresText {
      guard let parsed = RFC3339.parse(expiresText) else {
        throw .invalidArgument("\(expiresKey) '\(expiresText)' is not an RFC 3339 time")
      }
      expires = parsed
    }
    return ConnectContext.IncomingToken(token: token ?? "", expires: expires)
  }
}
