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
    #expect(try DomainTranslation.route(nse, served: ServedDomains(primary: "cluster.local")) == .foreign("domain1"))

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
    let served = ServedDomains(primary: "a.example", floating: ["f2.example"])
    #expect(
      try DomainTranslation.route(nse("nse", ["ns"]), served: served) == .local(domain: "a.example", suffixed: false)
    )
    #expect(
      try DomainTranslation.route(nse("nse@A.example.", ["ns"]), served: served)
        == .local(domain: "a.example", suffixed: true)
    )
    #expect(
      try DomainTranslation.route(nse("nse", ["ns@f2.example"]), served: served)
        == .local(domain: "f2.example", suffixed: true),
      "a hosted floating domain is served here"
    )
    #expect(
      try DomainTranslation.route(nse("nse", ["ns"]), served: served, implied: "f2.example")
        == .local(domain: "f2.example", suffixed: false),
      "plain names of a forwarded call belong to the domain the forwarder named"
    )
    #expect(
      try DomainTranslation.route(nse("nse", ["ns"]), served: served, implied: "other.example")
        == .foreign("other.example")
    )
    #expect(
      try DomainTranslation.route(nse("nse@f.example", ["ns@f.example"]), served: served) == .foreign("f.example")
    )
    #expect(try DomainTranslation.route(nse("nse", ["ns@f.example"]), served: served) == .foreign("f.example"))
    #expect(
      try DomainTranslation.route(Registry_NetworkService.with { $0.name = "ns@B.example" }, served: served)
        == .foreign("B.example")
    )
    for (name, services, message) in [
      ("nse@b.example", ["ns@c.example"], "'b.example' and 'c.example'"),
      ("nse@a.example", ["ns@b.example"], "'a.example' and 'b.example'"),
      ("nse@bad domain", [], "not a valid DNS name"),
    ] {
      do {
        _ = try DomainTranslation.route(nse(name, services), served: served)
        Issue.record("\(name) \(services) was accepted")
      } catch {
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains(message))
      }
    }
  }

  @Test func servedDomainsAreValidDistinctDNSNames() throws {
    try ServedDomains(primary: "a.example", floating: ["f.example"]).validate()
    #expect(throws: NSMError.self) { try ServedDomains(primary: "a.example", floating: ["A.example."]).validate() }
    #expect(throws: NSMError.self) { try ServedDomains(primary: "a example").validate() }
    #expect(ServedDomains(primary: "a.example", floating: ["F.example"]).served("f.EXAMPLE.") == "F.example")
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
