import Foundation
import NSMAPI
import NSMCLI
import Testing

/// Every NetworkService example of the NSM architecture document loads exactly as written.
@Suite("Loading resources")
struct ExampleLoadingTests {
  static let examples = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("deploy/examples")

  static func load(_ file: String) throws -> ResourceLoader.Loaded {
    let url = examples.appendingPathComponent(file)
    return try ResourceLoader.load(try String(contentsOf: url, encoding: .utf8), source: file)
  }

  static func service(_ loaded: ResourceLoader.Loaded) throws -> Registry_NetworkService {
    guard loaded.resources.count == 1, case .networkService(let ns) = loaded.resources[0] else {
      throw ResourceError("expected one NetworkService, got \(loaded.resources)")
    }
    return ns
  }

  @Test func simpleNetworkService() throws {
    let loaded = try Self.load("simple-network-service.yaml")
    #expect(
      try Self.service(loaded)
        == .with {
          $0.name = "simple-network-service"; $0.payload = "IP"
        }
    )
    #expect(loaded.warnings.isEmpty)
  }

  @Test func composition() throws {
    let ns = try Self.service(try Self.load("composition.yaml"))
    #expect(ns.name == "service-mesh@finance.example.com")
    #expect(ns.matches.count == 2)
    #expect(ns.matches[0].sourceSelector == ["service": "envoy-proxy"])
    #expect(ns.matches[0].routes.map(\.destinationSelector) == [["service": "vl3"]])
    #expect(ns.matches[1].sourceSelector.isEmpty, "an empty source_selector: is a catch-all")
    #expect(ns.matches[1].routes.map(\.destinationSelector) == [["service": "envoy-proxy"]])
  }

  @Test func selectiveCompositionTakesTheEvidentIntentAndWarns() throws {
    let loaded = try Self.load("selective-composition.yaml")
    let ns = try Self.service(loaded)
    #expect(ns.name == "secure-vl3@sales.example.com")
    #expect(ns.matches.count == 3)
    #expect(ns.matches[0].sourceSelector == ["app": "foo", "version": "v1.1"])
    #expect(ns.matches[0].routes.map(\.destinationSelector) == [["provides": "ips"]])
    #expect(ns.matches[1].sourceSelector == ["provided": "ips"])
    #expect(ns.matches[2].sourceSelector.isEmpty)
    #expect(ns.matches[2].routes.map(\.destinationSelector) == [["provides": "vl3"]])
    #expect(loaded.warnings.count == 1)
    #expect(loaded.warnings.first?.hasPrefix("selective-composition.yaml:22:") == true)
  }

  @Test func topologyAwareSelectionKeepsTheTemplateVerbatim() throws {
    let ns = try Self.service(try Self.load("topology-aware-selection.yaml"))
    #expect(ns.matches.count == 1)
    #expect(ns.matches[0].routes[0].destinationSelector == ["nodeName": "{{  .nodeName }}"])
  }

  @Test func scaleFromZeroReadsTheBooleanLabelAsAString() throws {
    let loaded = try Self.load("scale-from-zero.yaml")
    let ns = try Self.service(loaded)
    #expect(ns.matches.count == 2)
    #expect(ns.matches[1].routes[0].destinationSelector == ["supplier": "true"])
    // The supplier is reached only when the local match falls through; the seed expects it.
    #expect(ns.matches[0].fallthrough)
    #expect(!ns.matches[1].fallthrough)
    #expect(loaded.warnings.count == 1)
    #expect(loaded.warnings.first?.contains("spec.matches[0] has no fallthrough") == true)
  }

  @Test func anExplicitFallthroughBeforeASupplierIsKept() throws {
    let yaml = """
      apiVersion: networkservicemesh.io/v1
      kind: NetworkService
      metadata: {name: a}
      spec:
        matches:
        - routes: [{destination_selector: {nodeName: "{{ .nodeName }}"}}]
          fallthrough: false
        - routes: [{destination_selector: {supplier: "true"}}]
      """
    let loaded = try ResourceLoader.load(yaml, source: "-")
    let ns = try Self.service(loaded)
    #expect(!ns.matches[0].fallthrough)
    #expect(loaded.warnings.isEmpty)
  }

  @Test func manyDocumentsJSONAndCamelCase() throws {
    let yaml = """
      apiVersion: networkservicemesh.io/v1
      kind: NetworkService
      metadata: {name: a}
      spec:
        matches:
        - sourceSelector: {app: x}
          fallthrough: true
          metadata: {labels: {p2p: "true"}}
          routes: [{destinationSelector: {app: y}, weight: 3}]
      ---
      {"apiVersion": "networkservicemesh.io/v1", "kind": "NetworkServiceEndpoint",
       "metadata": {"name": "nse-1"},
       "spec": {"networkServiceNames": ["a"], "networkServiceLabels": {"a": {"labels": {"app": "y"}}},
                "url": "tcp://10.0.0.1:5001", "expirationTime": "2030-01-02T03:04:05Z"}}
      """
    let loaded = try ResourceLoader.load(yaml, source: "-")
    #expect(loaded.resources.count == 2)
    guard case .networkService(let ns) = loaded.resources[0], case .endpoint(let nse) = loaded.resources[1] else {
      Issue.record("wrong kinds: \(loaded.resources)")
      return
    }
    #expect(ns.matches[0].fallthrough)
    #expect(ns.matches[0].metadata.labels == ["p2p": "true"])
    #expect(ns.matches[0].routes[0].weight == 3)
    #expect(nse.networkServiceNames == ["a"])
    #expect(nse.networkServiceLabels["a"]?.labels == ["app": "y"])
    #expect(nse.expirationTime.seconds == 1_893_553_445)
  }

  struct BadDocument: Sendable, CustomTestStringConvertible {
    let title: String
    let yaml: String
    let message: String
    var testDescription: String { title }
  }

  static let badDocuments: [BadDocument] = [
    BadDocument(
      title: "wrong apiVersion",
      yaml: "apiVersion: v1\nkind: NetworkService\nmetadata: {name: a}\n",
      message: "f.yaml:1: apiVersion must be networkservicemesh.io/v1"
    ),
    BadDocument(
      title: "unknown kind",
      yaml: "apiVersion: networkservicemesh.io/v1\nkind: Pod\nmetadata: {name: a}\n",
      message: "f.yaml:2: kind must be NetworkService or NetworkServiceEndpoint"
    ),
    BadDocument(
      title: "missing name",
      yaml: "apiVersion: networkservicemesh.io/v1\nkind: NetworkService\nmetadata: {}\n",
      message: "metadata.name is missing"
    ),
    BadDocument(
      title: "unknown field",
      yaml: "apiVersion: networkservicemesh.io/v1\nkind: NetworkService\nmetadata: {name: a}\nspec:\n  payloads: IP\n",
      message: "f.yaml:5: spec.payloads is not a known field"
    ),
    BadDocument(
      title: "label that is a mapping",
      yaml: """
        apiVersion: networkservicemesh.io/v1
        kind: NetworkService
        metadata: {name: a}
        spec:
          matches:
          - source_selector: {app: {x: y}}
        """,
      message: "spec.matches[0].source_selector.app must be a string, not a mapping"
    ),
    BadDocument(
      title: "bad time",
      yaml:
        "apiVersion: networkservicemesh.io/v1\nkind: NetworkServiceEndpoint\nmetadata: {name: a}\nspec: {expiration_time: soon}\n",
      message: "spec.expiration_time 'soon' is not an RFC 3339 time"
    ),
    BadDocument(title: "not YAML", yaml: "a: [b\n", message: "f.yaml: not valid YAML or JSON"),
  ]

  @Test(arguments: badDocuments)
  func badDocumentsNameWhereAndWhat(_ bad: BadDocument) {
    do {
      _ = try ResourceLoader.load(bad.yaml, source: "f.yaml")
      Issue.record("expected an error")
    } catch let error as ResourceError {
      #expect(error.message.contains(bad.message), "got: \(error.message)")
    } catch {
      Issue.record("unexpected \(error)")
    }
  }
}
