import NSMAPI
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// Query matching as the server applies it; every rule's edge cases are unit-tested in
/// NSMCoreTests, these check the same rules end to end over gRPC.
@Suite("Find applies upstream's query matching", .timeLimit(.minutes(1)))
struct FindMatchingTests {
  struct Case: Sendable, CustomTestStringConvertible {
    let title: String
    let query: Registry_NetworkServiceEndpoint
    let expected: [String]
    var testDescription: String { title }
  }

  static let endpoints: [Registry_NetworkServiceEndpoint] = [
    Fixtures.endpoint(
      "nse-1",
      services: ["ns-a"],
      labels: ["ns-a": ["app": "fw", "zone": "z1"]],
      url: "tcp://10.0.0.1:5001"
    ),
    Fixtures.endpoint(
      "nse-10",
      services: ["ns-a", "ns-b"],
      labels: ["ns-a": ["app": "fw"]],
      url: "tcp://10.0.0.10:5001"
    ),
    Fixtures.endpoint("nse-2", services: ["ns-b"], labels: ["ns-b": ["app": "vl3"]], url: "unix:///run/nse-2.sock"),
  ]

  static let cases: [Case] = [
    Case(title: "empty query matches all", query: .init(), expected: ["nse-1", "nse-10", "nse-2"]),
    Case(title: "name is exact", query: .with { $0.name = "nse-1" }, expected: ["nse-1"]),
    Case(title: "no name prefix match", query: .with { $0.name = "nse" }, expected: []),
    Case(title: "one service", query: .with { $0.networkServiceNames = ["ns-b"] }, expected: ["nse-10", "nse-2"]),
    Case(
      title: "services are a subset",
      query: .with { $0.networkServiceNames = ["ns-a", "ns-b"] },
      expected: ["nse-10"]
    ),
    Case(
      title: "labels by containment",
      query: .with { $0.networkServiceLabels = ["ns-a": .with { $0.labels = ["app": "fw"] }] },
      expected: ["nse-1", "nse-10"]
    ),
    Case(
      title: "every query label must be present",
      query: .with { $0.networkServiceLabels = ["ns-a": .with { $0.labels = ["app": "fw", "zone": "z1"] }] },
      expected: ["nse-1"]
    ),
    Case(title: "url by substring", query: .with { $0.url = "10.0.0.1" }, expected: ["nse-1", "nse-10"]),
    Case(title: "url substring of a unix path", query: .with { $0.url = "nse-2.sock" }, expected: ["nse-2"]),
  ]

  @Test(arguments: cases)
  func endpointQuery(_ testCase: Case) async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        for endpoint in Self.endpoints { _ = try await client.register(endpoint) }
        let found = try await client.find(testCase.query)
        #expect(found.map(\.name) == testCase.expected)
      }
    }
  }

  @Test func networkServiceQueryMatchesNameAndPayloadExactly() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Fixtures.service("ns"))
        _ = try await client.register(Fixtures.service("ns-1", payload: "ETHERNET"))
        #expect(try await client.find(Fixtures.service("ns")).map(\.name) == ["ns"])
        #expect(try await client.find(Fixtures.service("", payload: "ETHERNET")).map(\.name) == ["ns-1"])
        #expect(try await client.find(Fixtures.service("ns", payload: "ETHERNET")).isEmpty)
      }
    }
  }
}
