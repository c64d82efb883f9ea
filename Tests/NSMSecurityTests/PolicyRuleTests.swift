import Crypto
import Foundation
import NSMCore
import NSMSecurity
import Testing

/// Upstream's default registry policies, each allowed and denied, on tokens made here.
@Suite("security: policy rules")
struct PolicyRuleTests {
  let clientKey = P256.Signing.PrivateKey()
  let forwarderKey = P256.Signing.PrivateKey()
  let client = "spiffe://nsm.a/ns/default/pod/nse-1"
  let forwarder = "spiffe://nsm.b/registry"
  let registry = try! SPIFFEID(parsing: "spiffe://nsm.c/registry")
  let now = Date()

  func token(_ sub: String, aud: [String], key: P256.Signing.PrivateKey, expiresIn: TimeInterval = 600) async throws
    -> String
  {
    try await PathToken.sign(
      .init(sub: sub, aud: aud, exp: Int64(now.addingTimeInterval(expiresIn).timeIntervalSince1970)),
      with: key
    ).text
  }

  func facts(_ tokens: [String], peer: String, key: P256.Signing.PrivateKey?) throws -> PathPolicies.ServerFacts {
    PathPolicies.ServerFacts(
      tokens: tokens,
      peerID: try SPIFFEID(parsing: peer),
      peerKey: key?.publicKey,
      ownID: registry,
      now: now
    )
  }

  func deniedRule(_ facts: PathPolicies.ServerFacts) async -> String? {
    do {
      try await PathPolicies.checkIncoming(facts)
      return nil
    } catch {
      return error.rule
    }
  }

  @Test func aDirectCallerWithAGoodTokenIsAllowed() async throws {
    let tokens = [try await token(client, aud: [registry.description], key: clientKey)]
    #expect(await deniedRule(try facts(tokens, peer: client, key: clientKey)) == nil)
  }

  @Test func aForwardedCallWithAChainedPathIsAllowed() async throws {
    let tokens = [
      try await token(client, aud: [forwarder], key: clientKey),
      try await token(forwarder, aud: [registry.description], key: forwarderKey),
    ]
    #expect(await deniedRule(try facts(tokens, peer: forwarder, key: forwarderKey)) == nil)
  }

  @Test func tokensValid() async throws {
    #expect(await deniedRule(try facts([], peer: client, key: clientKey)) == PathPolicies.tokensValid)
    #expect(await deniedRule(try facts(["not.a.jwt"], peer: client, key: clientKey)) == PathPolicies.tokensValid)
    #expect(await deniedRule(try facts(["abc"], peer: client, key: clientKey)) == PathPolicies.tokensValid)
  }

  @Test func tokensExpired() async throws {
    let tokens = [try await token(client, aud: [registry.description], key: clientKey, expiresIn: -1)]
    #expect(await deniedRule(try facts(tokens, peer: client, key: clientKey)) == PathPolicies.tokensExpired)
  }

  @Test func tokensChained() async throws {
    // A broken chain: the client's token is for someone other than the forwarder.
    let broken = [
      try await token(client, aud: ["spiffe://nsm.x/elsewhere"], key: clientKey),
      try await token(forwarder, aud: [registry.description], key: forwarderKey),
    ]
    #expect(await deniedRule(try facts(broken, peer: forwarder, key: forwarderKey)) == PathPolicies.tokensChained)
    // A token for another audience.
    let other = [try await token(client, aud: ["spiffe://nsm.c/other-registry"], key: clientKey)]
    #expect(await deniedRule(try facts(other, peer: client, key: clientKey)) == PathPolicies.tokensChained)
  }

  @Test func prevTokenSigned() async throws {
    // Signed by another key than the caller's certificate's.
    let forged = [try await token(client, aud: [registry.description], key: P256.Signing.PrivateKey())]
    #expect(await deniedRule(try facts(forged, peer: client, key: clientKey)) == PathPolicies.prevTokenSigned)
    // A token in the caller's name presented by another peer.
    let relayed = [try await token(client, aud: [registry.description], key: clientKey)]
    #expect(await deniedRule(try facts(relayed, peer: forwarder, key: forwarderKey)) == PathPolicies.prevTokenSigned)
    // No client certificate at all.
    #expect(await deniedRule(try facts(relayed, peer: client, key: nil)) == PathPolicies.prevTokenSigned)
  }

  @Test func nextTokenSigned() async throws {
    let serverKey = P256.Signing.PrivateKey()
    let mine = try await token(client, aud: [registry.description], key: clientKey)
    let good = try await token(registry.description, aud: [client], key: serverKey)
    try await PathPolicies.checkNext(
      tokens: [mine, good],
      ownIndex: 0,
      serverID: registry,
      serverKey: serverKey.publicKey
    )
    let forged = try await token(registry.description, aud: [client], key: P256.Signing.PrivateKey())
    for tokens in [[mine], [mine, forged]] {
      await #expect(throws: PolicyDenial.self) {
        try await PathPolicies.checkNext(
          tokens: tokens,
          ownIndex: 0,
          serverID: registry,
          serverKey: serverKey.publicKey
        )
      }
    }
  }

  @Test func registryClientAllowed() async throws {
    try PathPolicies.checkRegistrant(requester: client, registrant: nil, name: "nse-1", operation: .register)
    try PathPolicies.checkRegistrant(requester: client, registrant: client, name: "nse-1", operation: .register)
    try PathPolicies.checkRegistrant(requester: forwarder, registrant: client, name: "nse-1", operation: .find)
    for operation in [RegistryOperation.register, .unregister] {
      do {
        try PathPolicies.checkRegistrant(requester: forwarder, registrant: client, name: "nse-1", operation: operation)
        Issue.record("a second workload may \(operation) another's name")
      } catch {
        #expect(error.rule == PathPolicies.registryClientAllowed)
        #expect(error.nsmError.code == .permissionDenied)
        #expect(error.description.contains(forwarder) && error.description.contains(client))
      }
    }
  }

  @Test func tokensRoundTripAndCarryTheirClaims() async throws {
    let text = try await token(client, aud: [registry.description], key: clientKey)
    let decoded = try PathToken(decoding: text)
    #expect(decoded.claims.sub == client)
    #expect(decoded.claims.aud == [registry.description])
    #expect(await decoded.isSigned(by: clientKey.publicKey))
    #expect(await !decoded.isSigned(by: forwarderKey.publicKey))
    let path = RegistryPath(index: 1, tokens: [text, text])
    #expect(try RegistryPath(json: path.json) == path)
    #expect(path.json.contains("\"path_segments\""))
    #expect(throws: NSMError.self) { try RegistryPath(json: "{\"index\": 5, \"path_segments\": []}") }
  }
}

@Suite("security: domain policy file")
struct DomainPolicyTests {
  static let file = """
    domains:
      a.nsm.test:
        - identities: ["spiffe://nsm.a/*"]
          operations: [find, register, unregister]
        - identities: ["spiffe://nsm.b/*"]
          operations: [find]
          names: ["public-*"]
      floating.nsm.test:
        - identities: ["spiffe://nsm.b/*", "spiffe://nsm.c/*"]
          operations: [find, register, unregister]
    forward_to: ["b.nsm.test", "*.partner.example"]
    accept_forwarded_from: ["spiffe://nsm.b/registry"]
    """

  @Test func grantsAreCheckedPerDomainOperationIdentityAndName() async throws {
    let policy = try DomainPolicy(yaml: Self.file, source: "test")
    try policy.checkLocal(
      identity: "spiffe://nsm.a/ns/x/pod/y",
      operation: .register,
      name: "nse-1",
      domain: "a.nsm.test"
    )
    try policy.checkLocal(identity: "spiffe://nsm.b/nse", operation: .find, name: "public-vpn", domain: "A.nsm.test.")
    try policy.checkLocal(identity: "spiffe://nsm.c/nse", operation: .register, name: "x", domain: "floating.nsm.test")
    for (identity, operation, name, domain) in [
      ("spiffe://nsm.b/nse", RegistryOperation.register, "public-vpn", "a.nsm.test"),
      ("spiffe://nsm.b/nse", .find, "private", "a.nsm.test"),
      ("spiffe://nsm.x/nse", .find, "public-vpn", "a.nsm.test"),
      ("spiffe://nsm.a/nse", .register, "x", "floating.nsm.test"),
      ("spiffe://nsm.a/nse", .find, "x", "unlisted.nsm.test"),
    ] {
      do {
        try policy.checkLocal(identity: identity, operation: operation, name: name, domain: domain)
        Issue.record("\(identity) \(operation) \(name)@\(domain) was allowed")
      } catch {
        #expect(error.rule == DomainPolicy.rule)
        #expect(error.identity == identity)
      }
    }
    try policy.checkForward(identity: "spiffe://nsm.a/x", operation: .find, domain: "b.nsm.test")
    try policy.checkForward(identity: "spiffe://nsm.a/x", operation: .find, domain: "x.partner.example")
    #expect(throws: PolicyDenial.self) {
      try policy.checkForward(identity: "spiffe://nsm.a/x", operation: .find, domain: "c.nsm.test")
    }
    try policy.checkForwarder(try SPIFFEID(parsing: "spiffe://nsm.b/registry"), originator: "spiffe://nsm.b/nse")
    #expect(throws: PolicyDenial.self) {
      try policy.checkForwarder(try SPIFFEID(parsing: "spiffe://nsm.c/registry"), originator: "spiffe://nsm.c/nse")
    }
    #expect(throws: PolicyDenial.self) {
      try policy.checkForwarder(try SPIFFEID(parsing: "spiffe://nsm.b/nse"), originator: "spiffe://nsm.b/other")
    }
    // A registry vouches for its own trust domain's workloads only.
    #expect(throws: PolicyDenial.self) {
      try policy.checkForwarder(try SPIFFEID(parsing: "spiffe://nsm.b/registry"), originator: "spiffe://nsm.a/admin")
    }
  }

  @Test func theDefaultIsTheOwnTrustDomainOnly() async throws {
    let policy = DomainPolicy.ownTrustDomainOnly(
      "nsm.a",
      registryID: "spiffe://nsm.a/registry",
      served: ServedDomains(primary: "a.nsm.test", floating: ["f.nsm.test"])
    )
    try policy.checkLocal(identity: "spiffe://nsm.a/x", operation: .unregister, name: "n", domain: "f.nsm.test")
    #expect(throws: PolicyDenial.self) {
      try policy.checkLocal(identity: "spiffe://nsm.b/x", operation: .find, name: "n", domain: "a.nsm.test")
    }
    try policy.checkForwarder(try SPIFFEID(parsing: "spiffe://nsm.a/registry"), originator: "spiffe://nsm.a/x")
    #expect(throws: PolicyDenial.self) {
      try policy.checkForwarder(try SPIFFEID(parsing: "spiffe://nsm.a/nse"), originator: "spiffe://nsm.a/x")
    }
    #expect(throws: PolicyDenial.self) {
      try policy.checkForwarder(try SPIFFEID(parsing: "spiffe://nsm.b/registry"), originator: "spiffe://nsm.b/x")
    }
  }

  @Test(arguments: [
    ("domains: [1]", "domains must map"),
    ("domains: {a.test: [{identities: [x], operations: [write]}]}", "'write' is not find"),
    ("domains: {a.test: [{operations: [find]}]}", "identities is empty"),
    ("forward: [x]", "unknown key 'forward'"),
    ("domains: {'bad domain': []}", "not a valid DNS name"),
    ("accept_forwarded_from: [nsm.b]", "SPIFFE IDs of registries"),
    // The gateway: section (GatewayPolicyTests).
    ("gateway: [1]", "gateway must be a mapping"),
    ("gateway: {inbound: [{identities: [x]}]}", "gateway.inbound[0].services is empty"),
    ("gateway: {outbound: [{services: [x]}]}", "gateway.outbound[0].identities is empty"),
    ("gateway: {accept_from: [nsm.b]}", "SPIFFE IDs of gateways"),
    ("gateway: {inbound: [{identities: [x], services: [y], names: [z]}]}", "unknown key 'names'"),
    ("gateway: {allow: []}", "gateway: unknown key 'allow'"),
  ])
  func badFilesAreRefusedNamingTheProblem(_ text: String, _ message: String) {
    do {
      _ = try DomainPolicy(yaml: text, source: "policy.yaml")
      Issue.record("accepted: \(text)")
    } catch {
      #expect(error.code == .invalidArgument)
      #expect(error.message.contains(message), "\(error.message)")
    }
  }

  @Test(arguments: [
    ("spiffe://nsm.b/*", "spiffe://nsm.b/ns/a/pod/b", true),
    ("spiffe://nsm.b/*", "spiffe://nsm.bb/x", false),
    ("nse-*", "nse-1", true),
    ("nse-*", "nse", false),
    ("*.example", "a.b.example", true),
    ("a*b*c", "abbc", true),
    ("a*b*c", "acb", false),
    ("exact", "exact", true),
  ])
  func globs(_ pattern: String, _ text: String, _ matches: Bool) {
    #expect(Glob(pattern).matches(text) == matches)
  }
}
