import NSMAPI
import NSMCore
import Testing

@Suite("name@domain translation")
struct DomainTranslationTests {
  @Test(
    arguments: [
      ("ns", "ns", nil),
      ("ns@d.example", "ns", "d.example"),
      ("a@b@c", "a", "b@c"),
      ("@d", "", "d"),
    ] as [(String, String, String?)]
  )
  func onlyTheFirstAtSplits(_ text: String, _ target: String, _ domain: String?) {
    let name = ScopedName(text)
    #expect(name.target == target)
    #expect(name.domain == domain)
    #expect(name.description == text)
  }

  @Test func domainsCompareWithoutCaseOrTrailingDot() {
    #expect(ScopedName("ns@Cluster.Local.").isIn("cluster.local"))
    #expect(!ScopedName("ns@cluster.local").isIn("local"))
    #expect(!ScopedName("ns").isIn("cluster.local"))
  }

  /// The SDK's example (reference §2.2): a local endpoint name with a foreign service.
  @Test func endpointNamesServicesAndLabelKeysTravelTogether() throws {
    let nse = Registry_NetworkServiceEndpoint.with {
      $0.name = "nse-1"
      $0.networkServiceNames = ["ns1@domain1"]
      $0.networkServiceLabels = ["ns1@domain1": .with { $0.labels = ["app": "myapp"] }]
      $0.url = "tcp://1.2.3.4:5002"
    }
    #expect(try DomainTranslation.route(nse, ownDomain: "cluster.local") == .foreign("domain1"))

    let outgoing = DomainTranslation.stripped(nse, domain: "domain1")
    #expect(outgoing.name == "nse-1")
    #expect(outgoing.networkServiceNames == ["ns1"])
    #expect(outgoing.networkServiceLabels["ns1"]?.labels == ["app": "myapp"])
    #expect(outgoing.url == nse.url)

    let incoming = DomainTranslation.joined(outgoing, domain: "domain1")
    #expect(incoming.name == "nse-1@domain1", "joined unconditionally, as upstream")
    #expect(incoming.networkServiceNames == ["ns1@domain1"])
    #expect(incoming.networkServiceLabels.keys.sorted() == ["ns1@domain1"])
  }

  @Test func routes() throws {
    func nse(_ name: String, _ services: [String]) -> Registry_NetworkServiceEndpoint {
      .with {
        $0.name = name
        $0.networkServiceNames = services
      }
    }
    #expect(try DomainTranslation.route(nse("nse", ["ns"]), ownDomain: "a.example") == .local(ownSuffix: false))
    #expect(
      try DomainTranslation.route(nse("nse@a.example", ["ns"]), ownDomain: "a.example") == .local(ownSuffix: true)
    )
    #expect(
      try DomainTranslation.route(nse("nse@f.example", ["ns@f.example"]), ownDomain: "a.example")
        == .foreign("f.example")
    )
    #expect(
      try DomainTranslation.route(nse("nse@a.example", ["ns@b.example"]), ownDomain: "a.example")
        == .foreign("b.example")
    )
    #expect(
      DomainTranslation.route(Registry_NetworkService.with { $0.name = "ns@B.example" }, ownDomain: "a.example")
        == .foreign("B.example")
    )
    do {
      _ = try DomainTranslation.route(nse("nse@b.example", ["ns@c.example"]), ownDomain: "a.example")
      Issue.record("two foreign domains were accepted")
    } catch {
      #expect(error.code == .invalidArgument)
      #expect(error.message.contains("'b.example' and 'c.example'"))
    }
  }

  @Test func networkServiceNamesRoundTrip() {
    let ns = Registry_NetworkService.with {
      $0.name = "ns-1@domain2"
      $0.payload = "IP"
    }
    let outgoing = DomainTranslation.stripped(ns, domain: "domain2")
    #expect(outgoing.name == "ns-1")
    #expect(DomainTranslation.joined(outgoing, domain: "domain2") == ns)
    #expect(DomainTranslation.strip("ns-1@other", domain: "domain2") == "ns-1@other", "another domain is left alone")
    #expect(DomainTranslation.join("ns-1@domain2", domain: "domain2") == "ns-1@domain2", "never twice")
  }
}
