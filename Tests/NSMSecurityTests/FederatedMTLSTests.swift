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

/// The three-domain federation (A, B, floating F) under mTLS, each domain its own trust domain.
@Suite("security: federation under mTLS with three trust domains", .timeLimit(.minutes(2)))
struct FederatedMTLSTests {
  static let a = "a.sec.test"
  static let b = "b.sec.test"
  static let f = "f.sec.test"

  func withRegistry<Result: Sendable>(
    _ domains: TestDomains,
    _ pki: TestPKI,
    _ name: String,
    trustDomain: String,
    policy: String?,
    _ body: (TestRegistry) async throws -> Result
  ) async throws -> Result {
    let identity = try pki.identity(
      "spiffe://\(trustDomain)/registry",
      federated: ["nsm.a", "nsm.b", "nsm.f"].filter { $0 != trustDomain }
    )
    var source: PolicySource?
    if let policy {
      let file = "\(pki.folder)/\(trustDomain)-policy.yaml"
      try policy.write(toFile: file, atomically: true, encoding: .utf8)
      source = try PolicySource(file: file)
    }
    return try await TestRegistry.run {
      $0.domain = name
      $0.listen = .tcp(host: "127.0.0.1", port: domains[name].registryPort)
      $0.federation.directory = domains.resolver()
      $0.security.identity = identity
      $0.security.policy = source
    } _: { registry in
      try await body(registry)
    }
  }

  static let floatingPolicy = """
    domains:
      f.sec.test:
        - identities: ["spiffe://nsm.b/*"]
          operations: [find, register, unregister]
        - identities: ["spiffe://nsm.a/*"]
          operations: [find]
    accept_forwarded_from: ["spiffe://nsm.a/registry", "spiffe://nsm.b/registry"]
    """

  @Test func aFloatingRegistrationFromBIsFoundFromA() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b", "nsm.f"])
    let domains = try await TestDomains.start([Self.a, Self.b], floating: [Self.f])
    let nse = try pki.identity("spiffe://nsm.b/ns/default/pod/vpn", federated: ["nsm.a", "nsm.f"])
    let nsc = try pki.identity("spiffe://nsm.a/ns/default/pod/client", federated: ["nsm.b", "nsm.f"])
    try await withRegistry(domains, pki, Self.a, trustDomain: "nsm.a", policy: nil) { a in
      try await withRegistry(domains, pki, Self.b, trustDomain: "nsm.b", policy: nil) { b in
        try await withRegistry(domains, pki, Self.f, trustDomain: "nsm.f", policy: Self.floatingPolicy) { f in
          let registered = try await RegistryClient.with(address: b.address, identity: nse) {
            try await $0.register(Fixtures.endpoint("vpn-1@\(Self.f)", services: ["vpn"], expiresIn: 3600))
          }
          #expect(registered.name == "vpn-1@\(Self.f)")
          let stored = try await f.endpoints.find(Registry_NetworkServiceEndpoint())
          #expect(stored.map(\.name) == ["vpn-1"])
          #expect(
            stored.first?.pathIds == [
              "spiffe://nsm.b/ns/default/pod/vpn", "spiffe://nsm.b/registry", "spiffe://nsm.f/registry",
            ],
            "path_ids hold every hop, the registrant first"
          )
          let found = try await RegistryClient.with(address: a.address, identity: nsc) {
            try await $0.find(Registry_NetworkServiceEndpoint.with { $0.name = "vpn-1@\(Self.f)" })
          }
          #expect(found.map(\.name) == ["vpn-1@\(Self.f)"])
          #expect(found.first?.url == domains[Self.b].gatewayURL)

          // A's workload may find in F but not register there, and not take over B's name.
          let takeover = await rpcError {
            _ = try await RegistryClient.with(address: a.address, identity: nsc) {
              try await $0.register(Fixtures.endpoint("vpn-1@\(Self.f)", services: ["vpn"], expiresIn: 3600))
            }
          }
          #expect(takeover?.code == .permissionDenied)
          #expect(takeover?.message.contains("spiffe://nsm.a/ns/default/pod/client") == true)
          #expect(f.server.denials.byRule[DomainPolicy.rule] == 1)
        }
      }
    }
  }

  /// B's policy does not accept calls forwarded by A's trust domain: B's registry denies.
  @Test func aForwardedFindFromAnUnlistedDomainIsDeniedByTheReceivingRegistry() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b", "nsm.f"])
    let domains = try await TestDomains.start([Self.a, Self.b])
    let nsc = try pki.identity("spiffe://nsm.a/ns/default/pod/client", federated: ["nsm.b"])
    let policyB = """
      domains:
        b.sec.test:
          - identities: ["spiffe://nsm.a/*", "spiffe://nsm.b/*"]
            operations: [find]
      accept_forwarded_from: ["spiffe://nsm.f/registry"]
      """
    try await withRegistry(domains, pki, Self.a, trustDomain: "nsm.a", policy: nil) { a in
      try await withRegistry(domains, pki, Self.b, trustDomain: "nsm.b", policy: policyB) { b in
        let denied = await rpcError {
          _ = try await RegistryClient.with(address: a.address, identity: nsc) {
            try await $0.find(Registry_NetworkService.with { $0.name = "ns-1@\(Self.b)" })
          }
        }
        #expect(denied?.code == .permissionDenied)
        #expect(denied?.message.contains("domain 'b.sec.test'") == true, "\(denied?.message ?? "")")
        #expect(denied?.message.contains("accept_forwarded_from") == true, "\(String(describing: denied))")
        #expect(denied?.message.contains("spiffe://nsm.a/registry") == true)
        #expect(b.server.denials.byRule[DomainPolicy.rule] == 1)
      }
    }
  }

  /// A's own policy may keep its workloads from reaching a domain at all.
  @Test func forwardToLimitsWhereARegistryForwards() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b", "nsm.f"])
    let domains = try await TestDomains.start([Self.a, Self.b])
    let nsc = try pki.identity("spiffe://nsm.a/ns/default/pod/client", federated: ["nsm.b"])
    let policyA = """
      domains:
        a.sec.test:
          - identities: ["spiffe://nsm.a/*"]
            operations: [find, register, unregister]
      forward_to: ["f.sec.test"]
      """
    try await withRegistry(domains, pki, Self.a, trustDomain: "nsm.a", policy: policyA) { a in
      let denied = await rpcError {
        _ = try await RegistryClient.with(address: a.address, identity: nsc) {
          try await $0.find(Registry_NetworkService.with { $0.name = "ns-1@\(Self.b)" })
        }
      }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message.contains("forward_to") == true)
      #expect(a.server.peerStatistics.snapshot.isEmpty, "nothing left A")
    }
  }
}
