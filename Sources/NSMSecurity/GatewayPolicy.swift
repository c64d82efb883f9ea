internal import NSMCore

/// What a domain's gateway (`nsm proxy --policy`) lets cross it: the `gateway:` section of the
/// domain policy file.
///
/// ```yaml
/// gateway:
///   accept_from: ["spiffe://nsm.b/nsmgr-proxy"]   # other domains' gateways that may bring connections in
///   inbound:                                       # their clients, to this domain's services
///     - identities: ["spiffe://nsm.b/*"]
///       services: ["simple", "vpn@floating.nsm.test"]
///   outbound:                                      # this domain's clients, to other domains' services
///     - identities: ["spiffe://nsm.a/*"]
///       services: ["*@b.nsm.test"]
/// ```
///
/// Identities are globs on the SPIFFE ID of the client that started the connection (path
/// segment 0). Inbound services are named as they are inside this domain (`simple`, a floating
/// domain's `vpn@floating.nsm.test`); outbound ones with their domain (`simple@b.nsm.test`).
public struct GatewayPolicy: Sendable, Equatable {
  public struct Grant: Sendable, Equatable {
    public var identities: [Glob]
    public var services: [Glob]

    public init(identities: [Glob], services: [Glob]) {
      self.identities = identities
      self.services = services
    }

    func admits(_ identity: String, _ service: String) -> Bool {
      identities.contains { $0.matches(identity) } && services.contains { $0.matches(service) }
    }
  }

  public static let inboundRule = "gateway_inbound"
  public static let outboundRule = "gateway_outbound"
  public static let peerRule = "gateway_peer"

  public var acceptFrom: [Glob]
  public var inbound: [Grant]
  public var outbound: [Grant]
  public var source: String

  public init(acceptFrom: [Glob], inbound: [Grant], outbound: [Grant], source: String) {
    self.acceptFrom = acceptFrom
    self.inbound = inbound
    self.outbound = outbound
    self.source = source
  }

  /// Without a file: the gateway's own trust domain only, as a registry's default policy.
  /// Its clients reach any service of another domain; connections come in only from gateways
  /// of its own trust domain (several domains sharing one), for any service.
  public static func ownTrustDomainOnly(_ trustDomain: String) -> GatewayPolicy {
    let own = Glob("spiffe://\(trustDomain)/*")
    let grant = Grant(identities: [own], services: [Glob("*")])
    return GatewayPolicy(
      acceptFrom: [own],
      inbound: [grant],
      outbound: [grant],
      source: "the default policy (own trust domain \(trustDomain) only)"
    )
  }

  /// May `client` of this domain connect to `service` (`name@domain`) of another?
  public func checkOutbound(client: String, service: String) throws(PolicyDenial) {
    guard outbound.contains(where: { $0.admits(client, service) }) else {
      throw PolicyDenial(
        rule: Self.outboundRule,
        identity: client,
        reason: "\(source) grants no connection out of this domain to '\(service)' (gateway.outbound)"
      )
    }
  }

  /// May the gateway `peer` bring `client`'s connection to this domain's `service` in?
  /// A gateway vouches only for its own trust domain's clients: anything else in segment 0
  /// could be made up by it.
  public func checkInbound(peer: SPIFFEID, client: String, service: String) throws(PolicyDenial) {
    guard acceptFrom.contains(where: { $0.matches(peer.description) }) else {
      throw PolicyDenial(
        rule: Self.peerRule,
        identity: peer.description,
        reason: "\(source) does not list \(peer) under gateway.accept_from"
      )
    }
    guard peer.vouches(for: client) else {
      throw PolicyDenial(
        rule: Self.peerRule,
        identity: peer.description,
        reason: "it brought a connection of \(client); a gateway brings in only its own trust domain's clients"
      )
    }
    guard inbound.contains(where: { $0.admits(client, service) }) else {
      throw PolicyDenial(
        rule: Self.inboundRule,
        identity: client,
        reason: "\(source) grants no connection from other domains to '\(service)' (gateway.inbound)"
      )
    }
  }

  // MARK: Loading

  static let keys = ["accept_from", "inbound", "outbound"]

  /// The `gateway:` section; a file without one lets nothing cross (what a file leaves out is
  /// denied).
  init(section: Any?, source: String) throws(NSMError) {
    self.source = source
    guard let section else {
      (acceptFrom, inbound, outbound) = ([], [], [])
      return
    }
    guard let map = section as? [String: Any] else {
      throw .invalidArgument("\(source): gateway must be a mapping with accept_from, inbound, outbound")
    }
    for key in map.keys where !Self.keys.contains(key) {
      throw .invalidArgument("\(source): gateway: unknown key '\(key)'")
    }
    acceptFrom = try PolicyYAML.spiffeGlobs(
      map["accept_from"],
      at: "\(source): gateway.accept_from",
      of: "gateways",
      example: "spiffe://nsm.b/nsmgr-proxy"
    )
    inbound = try Self.grants(map["inbound"], at: "\(source): gateway.inbound")
    outbound = try Self.grants(map["outbound"], at: "\(source): gateway.outbound")
  }

  private static func grants(_ value: Any?, at place: String) throws(NSMError) -> [Grant] {
    guard let value else { return [] }
    guard let list = value as? [Any] else { throw .invalidArgument("\(place) must be a list of grants") }
    return try list.enumerated().map { index, item throws(NSMError) in
      let here = "\(place)[\(index)]"
      guard let map = item as? [String: Any] else {
        throw .invalidArgument("\(here) must be a mapping with identities and services")
      }
      for key in map.keys where !["identities", "services"].contains(key) {
        throw .invalidArgument("\(here): unknown key '\(key)'")
      }
      let identities = try PolicyYAML.strings(map["identities"], at: "\(here).identities")
      if identities.isEmpty { throw .invalidArgument("\(here).identities is empty") }
      let services = try PolicyYAML.strings(map["services"], at: "\(here).services")
      if services.isEmpty { throw .invalidArgument("\(here).services is empty") }
      return Grant(identities: identities.map(Glob.init), services: services.map(Glob.init))
    }
  }
}
