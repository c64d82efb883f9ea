import NSMAPI
import NSMCore
import Testing

/// Upstream's `MatchEndpoint` and `IsSubset` (reference §3.3), the §3.7 supplier expectations,
/// the §3.8 scenarios, and the seed's NetworkService documents.
@Suite("Endpoint matching")
struct EndpointMatchingTests {
  static func endpoint(_ name: String, service: String = "ns", _ labels: [String: String] = [:])
    -> Registry_NetworkServiceEndpoint
  {
    .with {
      $0.name = name
      $0.networkServiceNames = [service]
      if !labels.isEmpty { $0.networkServiceLabels = [service: .with { $0.labels = labels }] }
    }
  }

  static func match(_ source: [String: String], _ routes: [[String: String]], fallthrough: Bool = false)
    -> Registry_Match
  {
    .with {
      $0.sourceSelector = source
      $0.routes = routes.map { selector in .with { $0.destinationSelector = selector } }
      $0.`fallthrough` = `fallthrough`
    }
  }

  static func service(_ matches: [Registry_Match], name: String = "ns") -> Registry_NetworkService {
    .with {
      $0.name = name
      $0.payload = "IP"
      $0.matches = matches
    }
  }

  static func names(
    _ labels: [String: String],
    _ service: Registry_NetworkService,
    _ endpoints: [Registry_NetworkServiceEndpoint]
  )
    -> [String]
  {
    EndpointMatching.candidates(requestLabels: labels, service: service, endpoints: endpoints).map(\.name)
  }

  @Test func aServiceWithoutMatchesTakesEveryEndpoint() {
    let all = [Self.endpoint("a"), Self.endpoint("b", ["x": "y"])]
    #expect(Self.names(["any": "thing"], Self.service([]), all) == ["a", "b"])
  }

  @Test func emptySourceSelectorListedLastIsPickedForEmptyLabels() {
    let service = Self.service([
      Self.match(["app": "firewall"], [["app": "some-middle-app"]]),
      Self.match([:], [["app": "vl3"]]),
    ])
    let all = [Self.endpoint("middle", ["app": "some-middle-app"]), Self.endpoint("vl3", ["app": "vl3"])]
    #expect(Self.names([:], service, all) == ["vl3"])
  }

  @Test func aMatchingSourceSelectorPicksItsRoute() {
    let service = Self.service([
      Self.match(["app": "firewall"], [["app": "some-middle-app"]]),
      Self.match([:], [["app": "vl3"]]),
    ])
    let all = [Self.endpoint("middle", ["app": "some-middle-app"]), Self.endpoint("vl3", ["app": "vl3"])]
    #expect(Self.names(["app": "firewall"], service, all) == ["middle"])
  }

  @Test func anEmptySourceSelectorListedFirstWinsOverAMoreSpecificMatch() {
    let service = Self.service([
      Self.match([:], [["app": "vl3"]]),
      Self.match(["app": "firewall"], [["app": "some-middle-app"]]),
    ])
    let all = [Self.endpoint("middle", ["app": "some-middle-app"]), Self.endpoint("vl3", ["app": "vl3"])]
    #expect(Self.names(["app": "firewall"], service, all) == ["vl3"])
  }

  @Test func noApplyingMatchSelectsNothing() {
    let service = Self.service([Self.match(["app": "firewall"], [[:]])])
    #expect(Self.names(["app": "other"], service, [Self.endpoint("a")]).isEmpty)
    #expect(EndpointMatching.appliedMatch(requestLabels: ["app": "other"], service: service) == nil)
  }

  @Test func aMatchWithoutCandidatesDoesNotFallToTheNextUnlessItSaysSo() {
    let all = [Self.endpoint("b", ["tier": "b"])]
    let stops = Self.service([Self.match([:], [["tier": "a"]]), Self.match([:], [["tier": "b"]])])
    #expect(Self.names([:], stops, all).isEmpty)
    let falls = Self.service([Self.match([:], [["tier": "a"]], fallthrough: true), Self.match([:], [["tier": "b"]])])
    #expect(Self.names([:], falls, all) == ["b"])
  }

  @Test func metadataWithoutRoutesTakesEveryEndpointUnlessFallthrough() {
    var metadataOnly = Self.match([:], [])
    metadataOnly.metadata = .with { $0.labels = ["p2p": "true"] }
    let all = [Self.endpoint("a"), Self.endpoint("b")]
    #expect(Self.names([:], Self.service([metadataOnly]), all) == ["a", "b"])
    metadataOnly.`fallthrough` = true
    let next = Self.match([:], [["x": "y"]])
    #expect(Self.names([:], Self.service([metadataOnly, next]), all + [Self.endpoint("c", ["x": "y"])]) == ["c"])
  }

  @Test func anEndpointSelectedByTwoRoutesAppearsTwice() {
    let service = Self.service([Self.match([:], [["a": "1"], [:]])])
    let all = [Self.endpoint("x", ["a": "1"]), Self.endpoint("y")]
    #expect(Self.names([:], service, all) == ["x", "x", "y"])
  }

  @Test func anEmptySelectorValueMatchesAMissingLabel() {
    // Upstream's count check comes first: two selector keys never match one label.
    #expect(LabelSelector.matches(["a": "1"], selector: ["b": ""], requestLabels: [:]))
    #expect(!LabelSelector.matches(["a": "1"], selector: ["a": "1", "b": ""], requestLabels: [:]))
    #expect(LabelSelector.matches(["a": "1", "c": "2"], selector: ["a": "1", "b": ""], requestLabels: [:]))
  }

  @Test func templatesRenderFromTheRequestLabels() {
    #expect(LabelTemplate.render("{{ .nodeName }}", labels: ["nodeName": "node-2"]) == "node-2")
    #expect(LabelTemplate.render("{{  .nodeName }}", labels: ["nodeName": "n"]) == "n")
    #expect(LabelTemplate.render("{{.nodeName}}-{{ .zone }}", labels: ["nodeName": "n", "zone": "z"]) == "n-z")
    #expect(LabelTemplate.render("{{ .missing }}", labels: [:]) == "<no value>")
    #expect(LabelTemplate.render("plain", labels: [:]) == nil)
    // Not a template we evaluate: compared as written, as Go falls back on a parse error.
    #expect(LabelTemplate.render("{{ index .Labels \"x\" }}", labels: [:]) == nil)
    #expect(LabelTemplate.render("{{ .unclosed", labels: [:]) == nil)
    #expect(LabelTemplate.keys(in: "vl3-{{ .nodeName }}-{{.zone}}") == ["nodeName", "zone"])
    #expect(LabelTemplate.keys(in: "plain") == nil)
  }

  @Test func topologyAwareSelectionPicksTheClientsNode() {
    // The seed's local-vl3 document.
    let service = Self.service(
      [Self.match([:], [["nodeName": "{{  .nodeName }}"]])],
      name: "local-vl3@marketing.example.com"
    )
    let all = [
      Self.endpoint("vl3-node-1", service: service.name, ["nodeName": "node-1"]),
      Self.endpoint("vl3-node-2", service: service.name, ["nodeName": "node-2"]),
    ]
    #expect(Self.names(["nodeName": "node-2"], service, all) == ["vl3-node-2"])
    #expect(Self.names(["nodeName": "node-3"], service, all).isEmpty)
    // Without the label the template renders "<no value>", which no endpoint carries.
    #expect(Self.names([:], service, all).isEmpty)
  }

  @Test func compositionSendsUnlabelledClientsToTheProxyAndTheProxyToVL3() {
    // The seed's service-mesh document.
    let service = Self.service([
      Self.match(["service": "envoy-proxy"], [["service": "vl3"]]),
      Self.match([:], [["service": "envoy-proxy"]]),
    ])
    let all = [Self.endpoint("envoy", ["service": "envoy-proxy"]), Self.endpoint("vl3", ["service": "vl3"])]
    #expect(Self.names([:], service, all) == ["envoy"])
    #expect(Self.names(["service": "envoy-proxy"], service, all) == ["vl3"])
  }

  @Test func selectiveCompositionInterposesTheIPSForFooV11Only() {
    // The seed's secure-vl3 document, with its last match read as intended (a catch-all).
    let service = Self.service([
      Self.match(["app": "foo", "version": "v1.1"], [["provides": "ips"]]),
      Self.match(["provided": "ips"], [["provides": "vl3"]]),
      Self.match([:], [["provides": "vl3"]]),
    ])
    let all = [Self.endpoint("ips", ["provides": "ips"]), Self.endpoint("vl3", ["provides": "vl3"])]
    #expect(Self.names(["app": "foo", "version": "v1.1"], service, all) == ["ips"])
    #expect(Self.names(["app": "foo", "version": "v1.2"], service, all) == ["vl3"])
    #expect(Self.names(["provided": "ips"], service, all) == ["vl3"])
    #expect(Self.names([:], service, all) == ["vl3"])
  }

  @Test func scaleFromZeroFallsToTheSupplier() {
    // Reference §3.7, Test_Discover_Scale_FromZero_vL3 without clusterName.
    let service = Self.service([
      Self.match([:], [["app": "nse-vl3-vpp", "nodeName": "{{.nodeName}}"]], fallthrough: true),
      Self.match(["capability": "vl3"], [["capability": "vl3"]], fallthrough: true),
      Self.match([:], [["app": "vl3-supplier"]]),
    ])
    let all = [
      Self.endpoint("supplier", ["app": "vl3-supplier"]),
      Self.endpoint("nse-B", ["app": "nse-vl3-vpp", "nodeName": "node-2"]),
      Self.endpoint("vl3-mesh", ["capability": "vl3"]),
      Self.endpoint("unrelated", ["foo": "bar"]),
    ]
    #expect(Self.names([:], service, all) == ["supplier"])
    #expect(Self.names(["app": "nse-vl3-vpp", "nodeName": "node-2"], service, all) == ["nse-B"])
    #expect(Self.names(["capability": "vl3"], service, all) == ["vl3-mesh"])
    #expect(!Self.names(["nodeName": "node-9"], service, all).contains("unrelated"))
  }

  @Test func theSeedsSupplierDocumentPrefersTheLocalEndpoint() {
    // The seed's second local-vl3 document: `supplier: true` is loaded as the string "true".
    let service = Self.service([
      Self.match([:], [["nodeName": "{{  .nodeName }}"]], fallthrough: true),
      Self.match([:], [["supplier": "true"]]),
    ])
    let all = [Self.endpoint("supplier", ["supplier": "true"]), Self.endpoint("vl3-1", ["nodeName": "node-1"])]
    #expect(Self.names(["nodeName": "node-1"], service, all) == ["vl3-1"])
    #expect(Self.names(["nodeName": "node-2"], service, all) == ["supplier"])
  }
}
