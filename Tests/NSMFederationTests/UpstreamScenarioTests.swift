import Foundation
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// Upstream's proxydns registry scenarios (reference §7.2, 8–13), each over real sockets:
/// registries on loopback ports finding each other through nsd.
@Suite("federation: upstream registry scenarios", .timeLimit(.minutes(2)))
struct UpstreamScenarioTests {
  static let one = "domain1.fed.test"
  static let two = "domain2.fed.test"
  static let floating = "floating.fed.test"

  /// A Find template for one endpoint name.
  func named(_ name: String) -> Registry_NetworkServiceEndpoint {
    .with { $0.name = name }
  }

  func withThreeDomains(
    _ body: (TestDomains, TestRegistry, TestRegistry, TestRegistry) async throws -> Void
  ) async throws {
    let domains = try await TestDomains.start([Self.one, Self.two], floating: [Self.floating])
    try await withRegistry(domains, Self.one) { one in
      try await withRegistry(domains, Self.two) { two in
        try await withRegistry(domains, Self.floating) { floating in
          try await body(domains, one, two, floating)
        }
      }
    }
  }

  /// 8: a Network Service of domain 2 found from domain 1.
  @Test func interdomainNetworkService() async throws {
    try await withThreeDomains { _, one, two, _ in
      _ = try await two.withClient { try await $0.register(Fixtures.service("ns-1")) }
      let found = try await one.withClient { try await $0.find(Fixtures.service("ns-1@\(Self.two)")) }
      #expect(found.map(\.name) == ["ns-1@\(Self.two)"])
      #expect(found.first?.payload == "IP")
      #expect(one.server.peerStatistics.counts(domain: Self.two).answered == 1)
      #expect(try await one.networkServices.find(Registry_NetworkService()).isEmpty, "nothing stored in domain 1")
    }
  }

  /// 9: a name with the registry's own domain is served locally, suffix stripped going in and
  /// restored coming out.
  @Test func localDomainNetworkService() async throws {
    try await withThreeDomains { _, one, _, _ in
      let registered = try await one.withClient { try await $0.register(Fixtures.service("ns-1@\(Self.one)")) }
      #expect(registered.name == "ns-1@\(Self.one)")
      #expect(try await one.networkServices.find(Registry_NetworkService()).map(\.name) == ["ns-1"])
      let found = try await one.withClient { try await $0.find(Fixtures.service("ns-1@\(Self.one)")) }
      #expect(found.map(\.name) == ["ns-1@\(Self.one)"])
      #expect(try await one.withClient { try await $0.find(Fixtures.service("ns-1")) }.map(\.name) == ["ns-1"])
      #expect(one.server.peerStatistics.snapshot.isEmpty, "nothing was forwarded")
    }
  }

  /// 10: a Network Service registered into the floating domain through domain 2, found from 1.
  @Test func interdomainFloatingNetworkService() async throws {
    try await withThreeDomains { _, one, two, floating in
      let registered = try await two.withClient { try await $0.register(Fixtures.service("ns-1@\(Self.floating)")) }
      #expect(registered.name == "ns-1@\(Self.floating)")
      #expect(try await floating.networkServices.find(Registry_NetworkService()).map(\.name) == ["ns-1"])
      #expect(try await two.networkServices.find(Registry_NetworkService()).isEmpty)
      let found = try await one.withClient { try await $0.find(Fixtures.service("ns-1@\(Self.floating)")) }
      #expect(found.map(\.name) == ["ns-1@\(Self.floating)"])
    }
  }

  /// 11: an endpoint of domain 2 found by name from domain 1, reached through domain 2's gateway.
  @Test func interdomainEndpoint() async throws {
    try await withThreeDomains { domains, one, two, _ in
      let nse = Fixtures.endpoint(
        "nse-1",
        services: ["ns-1"],
        labels: ["ns-1": ["app": "firewall"]],
        url: "tcp://nsmgr-url:5001",
        expiresIn: 3600
      )
      _ = try await two.withClient { try await $0.register(nse) }
      let found = try await one.withClient { try await $0.find(named("nse-1@\(Self.two)")) }
      #expect(found.count == 1)
      let first = try #require(found.first)
      #expect(first.name == "nse-1@\(Self.two)")
      #expect(first.networkServiceNames == ["ns-1@\(Self.two)"])
      #expect(first.networkServiceLabels["ns-1@\(Self.two)"]?.labels == ["app": "firewall"])
      #expect(first.url == domains[Self.two].gatewayURL)
    }
  }

  /// 12: an endpoint of the registry's own domain, found with the domain suffix.
  @Test func localDomainEndpoint() async throws {
    try await withThreeDomains { _, one, _, _ in
      _ = try await one.withClient { try await $0.register(Fixtures.endpoint("nse-1")) }
      let found = try await one.withClient { try await $0.find(named("nse-1@\(Self.one)")) }
      #expect(found.map(\.name) == ["nse-1@\(Self.one)"])
      #expect(found.first?.networkServiceNames == ["ns-1@\(Self.one)"])
      #expect(found.first?.url == "tcp://10.0.0.1:5001", "a local endpoint keeps its URL")
    }
  }

  /// 13: an endpoint registered into the floating domain through domain 2, found from domain 1
  /// with domain 2's gateway URL and cluster labels.
  @Test func interdomainFloatingEndpoint() async throws {
    let domains = try await TestDomains.start([Self.one, Self.two], floating: [Self.floating])
    try await withRegistry(domains, Self.one) { one in
      try await withRegistry(domains, Self.two, configure: { $0.federation.clusterLabels = ["clusterName": "two"] }) {
        two in
        try await withRegistry(domains, Self.floating) { floating in
          let nse = Fixtures.endpoint(
            "nse-1@\(Self.floating)",
            services: ["ns-1"],
            labels: ["ns-1": ["app": "vpn", "clusterName": "mine"]],
            url: "tcp://10.2.0.7:5001",
            expiresIn: 3600
          )
          let registered = try await two.withClient { try await $0.register(nse) }
          #expect(registered.name == "nse-1@\(Self.floating)")
          #expect(registered.networkServiceNames == ["ns-1@\(Self.floating)"])
          #expect(registered.url == nse.url, "the registrant sees its own URL")
          #expect(registered.hasExpirationTime)

          let stored = try await floating.endpoints.find(Registry_NetworkServiceEndpoint())
          #expect(stored.map(\.name) == ["nse-1"])
          #expect(stored.first?.url == domains[Self.two].gatewayURL, "stored with domain 2's gateway")
          #expect(stored.first?.networkServiceLabels["ns-1"]?.labels == ["app": "vpn", "clusterName": "two"])
          // Domain 2 keeps only its gateway's note of where the endpoint is (its own URL, under
          // its floating name); none of domain 2's own endpoints.
          let kept = try await two.endpoints.find(Registry_NetworkServiceEndpoint())
          #expect(kept.map(\.name) == ["nse-1@\(Self.floating)"])
          #expect(kept.map(\.url) == [nse.url])
          #expect(try await two.withClient { try await $0.find(Registry_NetworkServiceEndpoint()) }.isEmpty)

          let found = try await one.withClient {
            try await $0.find(named("nse-1@\(Self.floating)"))
          }
          #expect(found.map(\.name) == ["nse-1@\(Self.floating)"])
          #expect(found.first?.url == domains[Self.two].gatewayURL, "a floating domain publishes no gateway")
          #expect(found.first?.networkServiceLabels["ns-1@\(Self.floating)"]?.labels["clusterName"] == "two")

          // Unregister travels the same way.
          try await two.withClient { try await $0.unregister(Fixtures.endpoint("nse-1@\(Self.floating)")) }
          #expect(try await floating.endpoints.find(Registry_NetworkServiceEndpoint()).isEmpty)
          #expect(try await two.endpoints.find(Registry_NetworkServiceEndpoint()).isEmpty)
        }
      }
    }
  }
}
