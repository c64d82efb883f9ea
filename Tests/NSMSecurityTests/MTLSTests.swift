import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NSMAPI
import NSMCore
import NSMRegistry
import NSMSecurity
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// A registry under mTLS with SPIFFE SVIDs, over real sockets.
@Suite("security: mTLS, path tokens and policies on a registry", .timeLimit(.minutes(2)))
struct MTLSTests {
  static let registryID = "spiffe://nsm.a/registry"
  static let domain = "a.sec.test"

  func withSecureRegistry<Result: Sendable>(
    _ pki: TestPKI,
    configure: (inout RegistryConfiguration) -> Void = { _ in },
    _ body: (TestRegistry) async throws -> Result
  ) async throws -> Result {
    let identity = try pki.identity(Self.registryID, federated: ["nsm.b"])
    return try await TestRegistry.run {
      $0.domain = Self.domain
      $0.security.identity = identity
      configure(&$0)
    } _: { registry in
      try await body(registry)
    }
  }

  func named(_ name: String) -> Registry_NetworkServiceEndpoint { .with { $0.name = name } }

  @Test func aWorkloadOfTheTrustDomainRegistersAndFinds() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    try await withSecureRegistry(pki) { registry in
      let nse = try pki.identity("spiffe://nsm.a/ns/default/pod/nse-1", federated: ["nsm.b"])
      let stored = try await RegistryClient.with(address: registry.address, identity: nse) { client in
        try await client.register(Fixtures.endpoint("nse-1", expiresIn: 3600))
      }
      #expect(stored.pathIds == ["spiffe://nsm.a/ns/default/pod/nse-1", Self.registryID])
      let found = try await RegistryClient.with(address: registry.address, identity: nse) { client in
        try await client.find(named("nse-1"))
      }
      #expect(found.map(\.name) == ["nse-1"])
    }
  }

  /// A lease lives no longer than the tokens that made it (upstream's expire element): with
  /// 30 s tokens, a 10 min expire period and a request for an hour, it ends within 30 s.
  @Test func aLeaseIsCappedByThePathsTokenExpiry() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a"])
    try await withSecureRegistry(pki) {
      $0.security.maxTokenLifetime = .seconds(30)
      $0.expirePeriod = .seconds(600)
    } _: { registry in
      let nse = try pki.identity("spiffe://nsm.a/ns/default/pod/nse-1")
      let before = Date()
      let stored = try await RegistryClient.with(
        address: registry.address,
        identity: nse,
        maxTokenLifetime: .seconds(20)
      ) {
        try await $0.register(Fixtures.endpoint("nse-1", expiresIn: 3600))
      }
      let after = Date()
      let expiry = stored.expirationTime.date
      // The workload's own token (20 s, whole seconds) is the earliest: not the expire period's
      // 10 min, nor the hour asked for.
      #expect(expiry <= after.addingTimeInterval(21), "\(expiry)")
      #expect(expiry >= before.addingTimeInterval(19), "\(expiry)")
    }
  }

  @Test func withoutAClientCertificateTheTLSHandshakeFails() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a"])
    try await withSecureRegistry(pki) { registry in
      // Plaintext, and TLS without a client certificate.
      let plaintext = await rpcCode { try await registry.withClient { _ = try await $0.find(named("x")) } }
      #expect(plaintext == .unavailable)
      let transport = try HTTP2ClientTransport.Posix(
        target: registry.address.clientTarget,
        transportSecurity: .tls { $0.serverCertificateVerification = .noVerification },
        config: .defaults
      )
      let anonymous = await rpcCode {
        try await withGRPCClient(transport: transport) { grpc in
          _ = try await RegistryClient(grpc: grpc).find(named("x"))
        }
      }
      #expect(anonymous == .unavailable)
      #expect(registry.server.denials.byRule.isEmpty, "refused at TLS, before any policy")
    }
  }

  @Test func aCertificateFromAnUntrustedTrustDomainIsRefused() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b", "nsm.x"])
    try await withSecureRegistry(pki) { registry in
      let stranger = try pki.identity("spiffe://nsm.x/ns/default/pod/intruder", federated: ["nsm.a"])
      let code = await rpcCode {
        _ = try await RegistryClient.with(address: registry.address, identity: stranger) {
          try await $0.find(named("x"))
        }
      }
      #expect(code == .unavailable)
    }
  }

  /// Tokens made by hand, each breaking one rule; the registry denies naming the rule.
  @Test func badTokensAreDeniedNamingTheRule() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    try await withSecureRegistry(pki) { registry in
      let nse = try pki.identity("spiffe://nsm.a/nse", federated: ["nsm.b"])
      let me = nse.id.description
      let otherKey = P256.Signing.PrivateKey()
      func token(_ sub: String, aud: [String], key: P256.Signing.PrivateKey, expiresIn: TimeInterval = 600) async throws
        -> String
      {
        try await PathToken.sign(
          .init(sub: sub, aud: aud, exp: Int64(Date().addingTimeInterval(expiresIn).timeIntervalSince1970)),
          with: key
        ).text
      }
      let cases: [(String, [String], Int)] = [
        (PathPolicies.tokensValid, ["garbage"], 0),
        (
          PathPolicies.tokensExpired, [try await token(me, aud: [Self.registryID], key: nse.svid.key, expiresIn: -5)], 0
        ),
        (PathPolicies.prevTokenSigned, [try await token(me, aud: [Self.registryID], key: otherKey)], 0),
        (
          PathPolicies.tokensChained,
          [try await token(me, aud: ["spiffe://nsm.a/another-registry"], key: nse.svid.key)], 0
        ),
        (
          PathPolicies.tokensChained,
          [
            try await token("spiffe://nsm.a/somebody", aud: ["spiffe://nsm.a/not-me"], key: otherKey),
            try await token(me, aud: [Self.registryID], key: nse.svid.key),
          ], 1
        ),
      ]
      try await RegistryClient.with(address: registry.address, identity: nse, pathTokens: false) { client in
        for (rule, tokens, index) in cases {
          let metadata: Metadata = [RegistryPath.metadataKey: .string(RegistryPath(index: index, tokens: tokens).json)]
          do {
            _ = try await client.endpoints.register(Fixtures.endpoint("nse-1", expiresIn: 60), metadata: metadata)
            Issue.record("\(rule): the registration was accepted")
          } catch let error as RPCError {
            #expect(error.code == .permissionDenied, "\(rule): \(error)")
            #expect(error.message.contains("policy \(rule) denies"), "\(rule): \(error.message)")
          }
        }
        // No path at all.
        let none = await rpcCode { _ = try await client.find(named("nse-1")) }
        #expect(none == .permissionDenied)
      }
      #expect(try await registry.endpoints.find(Registry_NetworkServiceEndpoint()).isEmpty, "nothing changed")
      #expect(registry.server.denials.byRule[PathPolicies.tokensChained] == 2)
    }
  }

  /// The default policy: only the registry's own trust domain; a policy file opens the domain
  /// to others, and is re-read when it changes.
  @Test func theDomainPolicyDecidesAndIsReloaded() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    let partner = try pki.identity("spiffe://nsm.b/nsc", federated: ["nsm.a"])
    let file = pki.folder + "/policy.yaml"
    try "domains: {\(Self.domain): [{identities: ['spiffe://nsm.a/*'], operations: [find, register, unregister]}]}"
      .write(toFile: file, atomically: true, encoding: .utf8)
    try await withSecureRegistry(pki, configure: { $0.security.policy = try? PolicySource(file: file) }) { registry in
      let denied = await rpcError {
        _ = try await RegistryClient.with(address: registry.address, identity: partner) {
          try await $0.find(named("x"))
        }
      }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message.contains("policy domain_policy denies spiffe://nsm.b/nsc") == true)

      try """
      domains:
        \(Self.domain):
          - identities: ["spiffe://nsm.a/*"]
            operations: [find, register, unregister]
          - identities: ["spiffe://nsm.b/*"]
            operations: [find]
      """.write(toFile: file, atomically: true, encoding: .utf8)
      let allowed = await eventually {
        (try? await RegistryClient.with(address: registry.address, identity: partner) { try await $0.find(named("x")) })
          != nil
      }
      #expect(allowed, "the changed file was read without a restart")
      let register = await rpcCode {
        _ = try await RegistryClient.with(address: registry.address, identity: partner) {
          try await $0.register(Fixtures.endpoint("nse-b", expiresIn: 60))
        }
      }
      #expect(register == .permissionDenied, "find only")
    }
  }

  /// `registry_client_allowed`: a second workload may neither re-register nor unregister
  /// another's name, also after a restart on the PostgreSQL store.
  @Test func onlyTheRegistrantMayRefreshOrUnregisterAlsoAfterARestart() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a"])
    let owner = try pki.identity("spiffe://nsm.a/ns/default/pod/owner")
    let other = try pki.identity("spiffe://nsm.a/ns/default/pod/other")
    let registryIdentity = try pki.identity(Self.registryID)
    let server = try await TestPostgres.start()
    defer { Task { await server.stop() } }
    let url = try await server.makeDatabase()
    let configure: (inout RegistryConfiguration) -> Void = {
      $0.domain = Self.domain
      $0.security.identity = registryIdentity
    }
    func attempts(_ address: ServiceAddress) async throws {
      for attempt in [
        { (client: RegistryClient) in
          _ = try await client.register(Fixtures.endpoint("nse-1", url: "tcp://6.6.6.6:1", expiresIn: 3600))
        },
        { (client: RegistryClient) in try await client.unregister(Fixtures.endpoint("nse-1")) },
      ] {
        let error = await rpcError {
          try await RegistryClient.with(address: address, identity: other) { try await attempt($0) }
        }
        #expect(error?.code == .permissionDenied)
        #expect(error?.message.contains("registry_client_allowed") == true)
        #expect(error?.message.contains("spiffe://nsm.a/ns/default/pod/owner") == true)
      }
    }
    try await withPostgresDatabase(url) { database in
      try await withPostgresRegistry(on: database, configure: configure) { address in
        _ = try await RegistryClient.with(address: address, identity: owner) {
          try await $0.register(Fixtures.endpoint("nse-1", expiresIn: 3600))
        }
        try await attempts(address)
      }
    }
    // A new registry process on the same database.
    try await withPostgresDatabase(url) { database in
      try await withPostgresRegistry(on: database, configure: configure) { address in
        try await attempts(address)
        let stored = try await RegistryClient.with(address: address, identity: owner) {
          try await $0.find(named("nse-1"))
        }
        #expect(stored.first?.url == "tcp://10.0.0.1:5001", "unchanged")
        _ = try await RegistryClient.with(address: address, identity: owner) {
          try await $0.register(Fixtures.endpoint("nse-1", url: "tcp://10.0.0.9:1", expiresIn: 3600))
        }
        try await RegistryClient.with(address: address, identity: owner) {
          try await $0.unregister(Fixtures.endpoint("nse-1"))
        }
      }
    }
  }

  /// The SVID files are replaced under an open watch: the watch stays, new connections get
  /// the new certificate.
  @Test func certificateRotationKeepsAnOpenWatch() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a"])
    let folder = try pki.writeSVID(Self.registryID, into: "registry")
    let identity = try WorkloadIdentity(files: .directory(folder), logger: .init(label: "test"))
    let before = identity.svid.chain[0].serialNumber
    let nse = try pki.identity("spiffe://nsm.a/nse")
    try await TestRegistry.run {
      $0.domain = Self.domain
      $0.security.identity = identity
    } _: { registry in
      try await RegistryClient.with(address: registry.address, identity: nse) { client in
        try await client.watch(Registry_NetworkServiceEndpoint()) { events in
          _ = try await client.register(Fixtures.endpoint("nse-1", expiresIn: 3600))
          #expect(try await events.next()?.networkServiceEndpoint.name == "nse-1")
          try pki.writeSVID(Self.registryID, into: "registry")
          #expect(await eventually { identity.svid.chain[0].serialNumber != before }, "reloaded without restart")
          _ = try await client.register(Fixtures.endpoint("nse-2", expiresIn: 3600))
          #expect(try await events.next()?.networkServiceEndpoint.name == "nse-2", "the open watch lives on")
        }
      }
      // A new connection verifies against the rotated certificate.
      let found = try await RegistryClient.with(address: registry.address, identity: nse) {
        try await $0.find(Registry_NetworkServiceEndpoint())
      }
      #expect(found.count == 2)
    }
  }
}

func rpcError(_ operation: () async throws -> Void) async -> RPCError? {
  do {
    try await operation()
    return nil
  } catch let error as RPCError {
    return error
  } catch {
    return RPCError(code: .unknown, message: "\(error)")
  }
}

func rpcCode(_ operation: () async throws -> Void) async -> RPCError.Code? {
  await rpcError(operation)?.code
}
