import Crypto
import Foundation
import GRPCCore
import NSMAPI
import NSMCore
import NSMRegistry
import NSMSecurity
import NSMStore
import NSMTesting
import NSMTransport
import Testing
import X509

/// What a malicious peer with a valid certificate might try.
@Suite("security: attacks by authenticated peers", .timeLimit(.minutes(2)))
struct AttackTests {
  static let registryID = "spiffe://nsm.a/registry"

  func withRegistry<Result: Sendable>(
    _ pki: TestPKI,
    policy: String? = nil,
    _ body: (TestRegistry) async throws -> Result
  ) async throws -> Result {
    let identity = try pki.identity(Self.registryID, federated: ["nsm.b"])
    var source: PolicySource?
    if let policy {
      let file = "\(pki.folder)/policy.yaml"
      try policy.write(toFile: file, atomically: true, encoding: .utf8)
      source = try PolicySource(file: file)
    }
    return try await TestRegistry.run {
      $0.domain = "a.sec.test"
      $0.security.identity = identity
      $0.security.policy = source
    } _: { registry in
      try await body(registry)
    }
  }

  func token(_ sub: String, aud: String, key: P256.Signing.PrivateKey) async throws -> String {
    try await PathToken.sign(
      .init(sub: sub, aud: [aud], exp: Int64(Date().addingTimeInterval(600).timeIntervalSince1970)),
      with: key
    ).text
  }

  /// A workload puts a made-up segment 0 in another workload's name in front of its own token,
  /// as if it were a registry forwarding for it.
  @Test func aForgedOriginatorIsDenied() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    try await withRegistry(pki) { registry in
      let owner = try pki.identity("spiffe://nsm.a/owner")
      let attacker = try pki.identity("spiffe://nsm.a/attacker")
      _ = try await RegistryClient.with(address: registry.address, identity: owner) {
        try await $0.register(Fixtures.endpoint("nse-1", expiresIn: 3600))
      }
      let forged = [
        try await token("spiffe://nsm.a/owner", aud: "spiffe://nsm.a/attacker", key: P256.Signing.PrivateKey()),
        try await token("spiffe://nsm.a/attacker", aud: Self.registryID, key: attacker.svid.key),
      ]
      let metadata: Metadata = [RegistryPath.metadataKey: .string(RegistryPath(index: 1, tokens: forged).json)]
      let denied = await rpcError {
        try await RegistryClient.with(address: registry.address, identity: attacker, pathTokens: false) {
          _ = try await $0.endpoints.unregister(Fixtures.endpoint("nse-1"), metadata: metadata)
        }
      }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message.contains("accept_forwarded_from") == true, "\(denied?.message ?? "")")
      #expect(try await registry.endpoints.find(Registry_NetworkServiceEndpoint()).count == 1, "still there")
    }
  }

  /// A federated partner's CA issues a certificate naming an ID of this registry's trust domain.
  @Test func aPartnersCACannotIssueOurIDs() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    try await withRegistry(pki) { registry in
      let partnerCA = try #require(pki.authorities["nsm.b"])
      let ownCA = try #require(pki.authorities["nsm.a"])
      // Signed by nsm.b's CA, claiming spiffe://nsm.a/admin.
      let key = P256.Signing.PrivateKey()
      let forged = try Certificate(
        version: .v3,
        serialNumber: .init(),
        publicKey: .init(key.publicKey),
        notValidBefore: Date().addingTimeInterval(-60),
        notValidAfter: Date().addingTimeInterval(3600),
        issuer: partnerCA.certificate.subject,
        subject: try DistinguishedName { OrganizationName("SPIFFE") },
        signatureAlgorithm: .ecdsaWithSHA256,
        extensions: try Certificate.Extensions {
          Critical(BasicConstraints.notCertificateAuthority)
          SubjectAlternativeNames([.uniformResourceIdentifier("spiffe://nsm.a/admin")])
        },
        issuerPrivateKey: .init(partnerCA.key)
      )
      let folder = pki.folder + "/forged"
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      try (try forged.serializeAsPEM().pemString + "\n").write(
        toFile: folder + "/svid.0.pem",
        atomically: true,
        encoding: .utf8
      )
      try (key.pemRepresentation + "\n").write(toFile: folder + "/svid.0.key", atomically: true, encoding: .utf8)
      try (try ownCA.certificate.serializeAsPEM().pemString + "\n").write(
        toFile: folder + "/bundle.0.pem",
        atomically: true,
        encoding: .utf8
      )
      let impostor = try WorkloadIdentity(files: .directory(folder), logger: .init(label: "impostor"))
      let code = await rpcCode {
        _ = try await RegistryClient.with(address: registry.address, identity: impostor) {
          try await $0.find(Fixtures.service("x"))
        }
      }
      #expect(code == .unavailable, "refused at TLS")
    }
  }

  /// A grant for some names only: a Find or watch without a name shows only those.
  @Test func aFindWithoutANameShowsOnlyGrantedNames() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    let policy = """
      domains:
        a.sec.test:
          - identities: ["spiffe://nsm.a/*"]
            operations: [find, register, unregister]
          - identities: ["spiffe://nsm.b/*"]
            operations: [find]
            names: ["public-*"]
      """
    try await withRegistry(pki, policy: policy) { registry in
      let owner = try pki.identity("spiffe://nsm.a/owner")
      let partner = try pki.identity("spiffe://nsm.b/nsc", federated: ["nsm.a"])
      try await RegistryClient.with(address: registry.address, identity: owner) { client in
        _ = try await client.register(Fixtures.endpoint("public-1", expiresIn: 3600))
        _ = try await client.register(Fixtures.endpoint("private-1", expiresIn: 3600))
      }
      try await RegistryClient.with(address: registry.address, identity: partner) { client in
        let all = try await client.find(Registry_NetworkServiceEndpoint())
        #expect(all.map(\.name) == ["public-1"])
        let byService = try await client.find(
          Registry_NetworkServiceEndpoint.with { $0.networkServiceNames = ["ns-1"] }
        )
        #expect(byService.map(\.name) == ["public-1"])
        try await client.watch(Registry_NetworkServiceEndpoint()) { events in
          #expect(try await events.next()?.networkServiceEndpoint.name == "public-1")
          _ = try await RegistryClient.with(address: registry.address, identity: owner) { owner in
            _ = try await owner.register(Fixtures.endpoint("private-2", expiresIn: 3600))
            _ = try await owner.register(Fixtures.endpoint("public-2", expiresIn: 3600))
          }
          #expect(try await events.next()?.networkServiceEndpoint.name == "public-2", "private-2 was not shown")
        }
      }
    }
  }

  /// A partner's workload may not use this registry to reach a third domain.
  @Test func aPartnerCannotRelayThroughThisRegistry() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    let policy = """
      domains:
        a.sec.test:
          - identities: ["spiffe://nsm.b/*"]
            operations: [find]
      forward_to: ["*"]
      """
    try await withRegistry(pki, policy: policy) { registry in
      let partner = try pki.identity("spiffe://nsm.b/nsc", federated: ["nsm.a"])
      let denied = await rpcError {
        _ = try await RegistryClient.with(address: registry.address, identity: partner) {
          try await $0.find(Fixtures.service("ns-1@c.sec.test"))
        }
      }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message.contains("own trust domain") == true, "\(denied?.message ?? "")")
      #expect(registry.server.peerStatistics.snapshot.isEmpty)
    }
  }
}
