internal import Foundation
public import NSMCore
internal import Yams

/// Who may do what in the domains a registry serves, and between domains (`--policy FILE`).
///
/// ```yaml
/// domains:                       # per domain this registry serves (its own and floating ones)
///   a.nsm.test:
///     - identities: ["spiffe://nsm.a/*"]          # globs on the originating workload's SPIFFE ID
///       operations: [find, register, unregister]
///       names: ["*"]                              # globs on the name without @domain
///     - identities: ["spiffe://nsm.b/*"]
///       operations: [find]
/// forward_to: ["b.nsm.test", "floating.nsm.test"]  # foreign domains this registry forwards to
/// accept_forwarded_from: ["spiffe://nsm.b/registry"]  # registries that may forward calls here
/// gateway: …                     # what crosses this domain's gateways (``GatewayPolicy``)
/// ```
///
/// Without a file: the registry's own trust domain may do everything in every served domain,
/// forwarding goes anywhere, and only this registry's own SPIFFE ID may forward here.
public struct DomainPolicy: Sendable, Equatable {
  public struct Grant: Sendable, Equatable {
    public var identities: [Glob]
    public var operations: Set<RegistryOperation>
    public var names: [Glob]

    public init(identities: [Glob], operations: Set<RegistryOperation>, names: [Glob]) {
      self.identities = identities
      self.operations = operations
      self.names = names
    }
  }

  public static let rule = "domain_policy"

  /// By domain, as written (compared without case and trailing dot).
  public var domains: [String: [Grant]]
  public var forwardTo: [Glob]
  public var acceptForwardedFrom: [Glob]
  /// What `nsm proxy --policy` lets cross; a registry does not read it.
  public var gateway: GatewayPolicy
  /// Where the policy came from, for messages.
  public var source: String

  public init(
    domains: [String: [Grant]],
    forwardTo: [Glob],
    acceptForwardedFrom: [Glob],
    gateway: GatewayPolicy? = nil,
    source: String
  ) {
    self.domains = domains
    self.forwardTo = forwardTo
    self.acceptForwardedFrom = acceptForwardedFrom
    self.gateway = gateway ?? GatewayPolicy(acceptFrom: [], inbound: [], outbound: [], source: source)
    self.source = source
  }

  /// The policy without a file, for a registry whose SPIFFE ID is `registryID`.
  public static func ownTrustDomainOnly(_ trustDomain: String, registryID: String? = nil, served: ServedDomains)
    -> DomainPolicy
  {
    let grant = Grant(
      identities: [Glob("spiffe://\(trustDomain)/*")],
      operations: Set(RegistryOperation.allCases),
      names: [Glob("*")]
    )
    return DomainPolicy(
      domains: Dictionary(([served.primary] + served.floating).map { ($0, [grant]) }, uniquingKeysWith: { a, _ in a }),
      forwardTo: [Glob("*")],
      acceptForwardedFrom: registryID.map { [Glob($0)] } ?? [],
      gateway: .ownTrustDomainOnly(trustDomain),
      source: "the default policy (own trust domain \(trustDomain) only)"
    )
  }

  // MARK: Decisions

  /// May `identity` do `operation` on `name` (without `@domain`) of the served `domain`?
  public func checkLocal(
    identity: String,
    operation: RegistryOperation,
    name: String,
    domain: String
  ) throws(PolicyDenial) {
    guard let grants = grants(for: domain) else {
      throw PolicyDenial(
        rule: Self.rule,
        identity: identity,
        reason: "\(source) says nothing about domain '\(domain)', so nobody may \(operation.rawValue) there"
      )
    }
    let allowed = grants.contains { grant in
      grant.operations.contains(operation)
        && grant.identities.contains { $0.matches(identity) }
        && (name.isEmpty || grant.names.contains { $0.matches(name) })
    }
    if !allowed {
      throw PolicyDenial(
        rule: Self.rule,
        identity: identity,
        reason: "\(source) grants no \(operation.rawValue) of '\(name.isEmpty ? "*" : name)' in domain '\(domain)'"
      )
    }
  }

  /// May this registry forward to the foreign `domain`?
  public func checkForward(identity: String, operation: RegistryOperation, domain: String) throws(PolicyDenial) {
    if !forwardTo.contains(where: { $0.matches(domain.lowercased()) || $0.matches(domain) }) {
      throw PolicyDenial(
        rule: Self.rule,
        identity: identity,
        reason: "\(source) does not list '\(domain)' under forward_to; \(operation.rawValue) is not forwarded there"
      )
    }
  }

  /// May `forwarder` forward calls here on behalf of `originator`? A registry vouches only for
  /// workloads of its own trust domain: anything else in segment 0 could be forged by it.
  public func checkForwarder(_ forwarder: SPIFFEID, originator: String) throws(PolicyDenial) {
    if !acceptForwardedFrom.contains(where: { $0.matches(forwarder.description) }) {
      throw PolicyDenial(
        rule: Self.rule,
        identity: forwarder.description,
        reason: "\(source) does not list \(forwarder) under accept_forwarded_from"
      )
    }
    guard forwarder.vouches(for: originator) else {
      throw PolicyDenial(
        rule: Self.rule,
        identity: forwarder.description,
        reason: "it forwarded a call of \(originator); a registry forwards only its own trust domain's workloads"
      )
    }
  }

  private func grants(for domain: String) -> [Grant]? {
    domains.first { ScopedName.sameDomain($0.key, domain) }?.value
  }

  // MARK: Loading

  /// Parses the YAML above; INVALID_ARGUMENT naming the problem.
  public init(yaml text: String, source: String) throws(NSMError) {
    let root: Any?
    do {
      root = try Yams.load(yaml: text)
    } catch {
      throw .invalidArgument("\(source): not YAML: \(error)")
    }
    guard let map = root as? [String: Any] else {
      throw .invalidArgument("\(source): expected a mapping with domains, forward_to, accept_forwarded_from, gateway")
    }
    for key in map.keys where !["domains", "forward_to", "accept_forwarded_from", "gateway"].contains(key) {
      throw .invalidArgument("\(source): unknown key '\(key)'")
    }
    var domains: [String: [Grant]] = [:]
    if let section = map["domains"] {
      guard let section = section as? [String: Any] else {
        throw .invalidArgument("\(source): domains must map each domain to a list of grants")
      }
      for (domain, value) in section {
        try DomainName.validate(domain)
        guard let list = value as? [Any] else {
          throw .invalidArgument("\(source): domains.\(domain) must be a list of grants")
        }
        domains[domain] = try list.enumerated().map { index, item throws(NSMError) in
          try Self.grant(item, at: "\(source): domains.\(domain)[\(index)]")
        }
      }
    }
    self.domains = domains
    forwardTo = try PolicyYAML.strings(map["forward_to"], at: "\(source): forward_to").map(Glob.init)
    acceptForwardedFrom = try PolicyYAML.spiffeGlobs(
      map["accept_forwarded_from"],
      at: "\(source): accept_forwarded_from",
      of: "registries",
      example: "spiffe://nsm.b/registry"
    )
    gateway = try GatewayPolicy(section: map["gateway"], source: source)
    self.source = source
  }

  public static func load(file path: String) throws(NSMError) -> DomainPolicy {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .invalidArgument("cannot read policy file \(path)")
    }
    return try DomainPolicy(yaml: String(decoding: data, as: UTF8.self), source: "policy file \(path)")
  }

  private static func grant(_ item: Any, at place: String) throws(NSMError) -> Grant {
    guard let map = item as? [String: Any] else {
      throw .invalidArgument("\(place) must be a mapping with identities, operations, names")
    }
    for key in map.keys where !["identities", "operations", "names"].contains(key) {
      throw .invalidArgument("\(place): unknown key '\(key)'")
    }
    let identities = try PolicyYAML.strings(map["identities"], at: "\(place).identities")
    if identities.isEmpty { throw .invalidArgument("\(place).identities is empty") }
    var operations = Set<RegistryOperation>()
    for text in try PolicyYAML.strings(map["operations"], at: "\(place).operations") {
      guard let operation = RegistryOperation(rawValue: text) else {
        throw .invalidArgument("\(place).operations: '\(text)' is not find, register or unregister")
      }
      operations.insert(operation)
    }
    if operations.isEmpty { throw .invalidArgument("\(place).operations is empty") }
    let names = map["names"] == nil ? ["*"] : try PolicyYAML.strings(map["names"], at: "\(place).names")
    return Grant(identities: identities.map(Glob.init), operations: operations, names: names.map(Glob.init))
  }

}
