public import NSMAPI
internal import NSMCore
public import NSMSecurity
public import NSMTransport

/// The `gateway:` section of the domain policy (`--policy`, docs/security.md) on each Request
/// that crosses this gateway: out of this domain, its client needs an outbound grant for the
/// service; into it, the other domain's gateway must be accepted, may bring only its own trust
/// domain's clients, and the client needs an inbound grant. Runs after the route element (which
/// decides the crossing and only reads) and before the relay, so a denial leaves nothing
/// behind. A Close always passes. Over plaintext there are no identities to check.
public struct GatewayPolicyElement: ConnectElement {
  public let identity: WorkloadIdentity
  /// The file; nil for the default policy (own trust domain only).
  public let source: PolicySource?

  public init(identity: WorkloadIdentity, source: PolicySource?) {
    self.identity = identity
    self.source = source
  }

  var policy: GatewayPolicy {
    source?.policy.gateway ?? .ownTrustDomainOnly(identity.id.trustDomain)
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    do throws(PolicyDenial) {
      try check(request.connection, context: context)
    } catch {
      context.logger.warning(
        "connection denied",
        metadata: ["rule": "\(error.rule)", "identity": "\(error.identity)", "reason": "\(error.reason)"]
      )
      throw error.nsmError
    }
    return try await next.request(request, context: context)
  }

  private func check(_ connection: Connection_Connection, context: ConnectContext) throws(PolicyDenial) {
    guard let peer = context.peer else { return }
    let client = Self.client(of: connection)
    let own = identity.id.trustDomain
    switch context.crossing {
    case .outward?:
      try policy.checkOutbound(client: client, service: Self.qualified(connection))
    case .inward? where peer.id.trustDomain == own && identity.id.vouches(for: client):
      // This domain's own connection coming back in (a manager that sent `nse@OWN` here).
      return
    case .inward?:
      try policy.checkInbound(peer: peer.id, client: client, service: connection.networkService)
    case nil:
      throw PolicyDenial(rule: GatewayPolicy.peerRule, identity: peer.id.description, reason: "no route decided")
    }
  }

  /// The SPIFFE ID that started the connection: path segment 0's token subject (the token
  /// rules before this element checked the path).
  static func client(of connection: Connection_Connection) -> String {
    guard let first = connection.path.pathSegments.first,
      let token = try? PathToken(decoding: first.token)
    else { return "" }
    return token.claims.sub
  }

  /// The service with its domain: a client may ask for `simple@b` or name only the endpoint's
  /// domain (`nse@b`).
  static func qualified(_ connection: Connection_Connection) -> String {
    let service = connection.networkService
    if service.contains("@") { return service }
    guard let at = connection.networkServiceEndpointName.lastIndex(of: "@") else { return service }
    return service + connection.networkServiceEndpointName[at...]
  }
}
