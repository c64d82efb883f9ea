import Foundation
import GRPCCore
import NSMAPI
import NSMCore
import NSMRegistry
import NSMSecurity
import NSMTesting
import Testing

/// A registry under mTLS with SPIFFE SVIDs, over real sockets.
@Suite("security: mTLS and path tokens", .timeLimit(.minutes(2)))
struct MTLSTests {
  static let registryID = "spiffe://nsm.a/registry"

  func withSecureRegistry<Result: Sendable>(
    _ pki: TestPKI,
    configure: (inout RegistryConfiguration) -> Void = { _ in },
    _ body: (TestRegistry) async throws -> Result
  ) async throws -> Result {
    let identity = try pki.identity(Self.registryID, federated: ["nsm.b"])
    return try await TestRegistry.run {
      $0.domain = "a.sec.test"
      $0.security.identity = identity
      configure(&$0)
    } _: { registry in
      try await body(registry)
    }
  }

  @Test func aWorkloadOfTheTrustDomainRegistersAndFinds() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a", "nsm.b"])
    try await withSecureRegistry(pki) { registry in
      let nse = try pki.identity("spiffe://nsm.a/ns/default/pod/nse-1")
      let stored = try await RegistryClient.with(address: registry.address, identity: nse) { client in
        try await client.register(Fixtures.endpoint("nse-1", expiresIn: 3600))
      }
      #expect(stored.pathIds == ["spiffe://nsm.a/ns/default/pod/nse-1", Self.registryID])
      let found = try await RegistryClient.with(address: registry.address, identity: nse) { client in
        try await client.find(Registry_NetworkServiceEndpoint.with { $0.name = "nse-1" })
      }
      #expect(found.map(\.name) == ["nse-1"])
    }
  }
}
