import NSMAPI
import NSMCore
import Testing

/// Upstream's `matchutils.MatchNetworkServices` / `MatchNetworkServiceEndpoints`: a query is a template
/// of the same message and every empty field of it is a wildcard.
@Suite("Registry query matching")
struct QueryMatchingTests {
  // MARK: - Network Service

  static let route = Registry_Destination.with {
    $0.destinationSelector = ["app": "server"]
    $0.weight = 10
  }
  static let match1 = Registry_Match.with {
    $0.sourceSelector = ["app": "client"]
    $0.routes = [route]
  }
  static let match2 = Registry_Match.with {
    $0.fallthrough = true
    $0.metadata = .with { $0.labels = ["tier": "gold"] }
  }

  static let ns = Registry_NetworkService.with {
    $0.name = "ns-1"
    $0.payload = "IP"
    $0.matches = [match1, match2]
    $0.pathIds = ["p1"]
  }

  struct NSCase: Sendable, CustomTestStringConvertible {
    var label: String
    var query: Registry_NetworkService
    var record: Registry_NetworkService
    var matches: Bool

    init(
      _ label: String,
      _ matches: Bool,
      record: Registry_NetworkService = QueryMatchingTests.ns,
      query: (inout Registry_NetworkService) -> Void
    ) {
      self.label = label
      self.matches = matches
      self.record = record
      self.query = .with(query)
    }

    var testDescription: String { "\(label) → \(matches)" }
  }

  static let nsCases: [NSCase] = [
    .init("empty query", true) { _ in },
    .init("empty query, empty record", true, record: Registry_NetworkService()) { _ in },
    .init("name exact", true) { $0.name = "ns-1" },
    .init("name is a prefix", false) { $0.name = "ns" },
    .init("name is a substring", false) { $0.name = "s-1" },
    .init("name is longer", false) { $0.name = "ns-10" },
    .init("name differs in case", false) { $0.name = "NS-1" },
    .init("name against an unnamed record", false, record: Registry_NetworkService()) { $0.name = "ns-1" },
    .init("payload exact", true) { $0.payload = "IP" },
    .init("payload differs", false) { $0.payload = "ETHERNET" },
    .init("payload against an empty payload", false, record: .with { $0.name = "ns-1" }) {
      $0.payload = "IP"
    },
    .init("matches deep-equal", true) { $0.matches = [match1, match2] },
    .init("matches in another order", false) { $0.matches = [match2, match1] },
    .init("matches a subset", false) { $0.matches = [match1] },
    .init("matches a superset", false) { $0.matches = [match1, match2, Registry_Match()] },
    .init("matches differ in a route weight", false) {
      var other = match1
      other.routes[0].weight = 11
      $0.matches = [other, match2]
    },
    .init("matches differ in a selector value", false) {
      var other = match1
      other.sourceSelector["app"] = "other"
      $0.matches = [other, match2]
    },
    .init("matches differ in fallthrough", false) {
      var other = match2
      other.fallthrough = false
      $0.matches = [match1, other]
    },
    .init("matches against a record without matches", false, record: .with { $0.name = "ns-1" }) {
      $0.matches = [match1]
    },
    .init("path ids are not compared", true) { $0.pathIds = ["other"] },
    .init("name, payload and matches all equal", true) {
      $0.name = "ns-1"
      $0.payload = "IP"
      $0.matches = [match1, match2]
    },
    .init("name equal, payload differs", false) {
      $0.name = "ns-1"
      $0.payload = "ETHERNET"
    },
    .init("payload equal, name differs", false) {
      $0.name = "ns-2"
      $0.payload = "IP"
    },
  ]

  @Test("Registry_NetworkService.matches(query:)", arguments: nsCases)
  func networkService(_ testCase: NSCase) {
    #expect(testCase.record.matches(query: testCase.query) == testCase.matches)
  }

  // MARK: - Network Service Endpoint

  static let expirationSeconds: Int64 = 1_700_000_060

  static let nse = Registry_NetworkServiceEndpoint.with {
    $0.name = "nse-1"
    $0.networkServiceNames = ["ns-a", "ns-b"]
    $0.networkServiceLabels = [
      "ns-a": .with { $0.labels = ["app": "server", "zone": "eu", "flag": ""] },
      "ns-b": .with { $0.labels = [:] },
    ]
    $0.url = "tcp://10.0.0.5:5003"
    $0.expirationTime = .with {
      $0.seconds = expirationSeconds
      $0.nanos = 500_000_000
    }
    $0.pathIds = ["p1"]
  }

  struct NSECase: Sendable, CustomTestStringConvertible {
    var label: String
    var query: Registry_NetworkServiceEndpoint
    var record: Registry_NetworkServiceEndpoint
    var matches: Bool

    init(
      _ label: String,
      _ matches: Bool,
      record: Registry_NetworkServiceEndpoint = QueryMatchingTests.nse,
      query: (inout Registry_NetworkServiceEndpoint) -> Void
    ) {
      self.label = label
      self.matches = matches
      self.record = record
      self.query = .with(query)
    }

    var testDescription: String { "\(label) → \(matches)" }
  }

  static func labels(_ byService: [String: [String: String]]) -> [String: Registry_NetworkServiceLabels] {
    byService.mapValues { labels in .with { $0.labels = labels } }
  }

  static let nseCases: [NSECase] = [
    .init("empty query", true) { _ in },
    .init("empty query, empty record", true, record: Registry_NetworkServiceEndpoint()) { _ in },

    // name: exact
    .init("name exact", true) { $0.name = "nse-1" },
    .init("name is a prefix", false) { $0.name = "nse" },
    .init("name is longer", false) { $0.name = "nse-10" },
    .init("nse-1 does not match nse-10", false, record: .with { $0.name = "nse-10" }) { $0.name = "nse-1" },
    .init("name differs in case", false) { $0.name = "NSE-1" },

    // network_service_names: query ⊆ endpoint
    .init("one of the services", true) { $0.networkServiceNames = ["ns-a"] },
    .init("the other service", true) { $0.networkServiceNames = ["ns-b"] },
    .init("all services", true) { $0.networkServiceNames = ["ns-a", "ns-b"] },
    .init("all services, other order", true) { $0.networkServiceNames = ["ns-b", "ns-a"] },
    .init("a service twice", true) { $0.networkServiceNames = ["ns-a", "ns-a"] },
    .init("an unknown service", false) { $0.networkServiceNames = ["ns-c"] },
    .init("a known and an unknown service", false) { $0.networkServiceNames = ["ns-a", "ns-c"] },
    .init("a service name substring", false) { $0.networkServiceNames = ["ns"] },
    .init("services against a record without any", false, record: .with { $0.name = "nse-1" }) {
      $0.networkServiceNames = ["ns-a"]
    },

    // network_service_labels: per-service containment
    .init("one label of a service", true) { $0.networkServiceLabels = labels(["ns-a": ["app": "server"]]) },
    .init("all labels of a service", true) {
      $0.networkServiceLabels = labels(["ns-a": ["app": "server", "zone": "eu", "flag": ""]])
    },
    .init("an empty-valued label the endpoint has", true) {
      $0.networkServiceLabels = labels(["ns-a": ["flag": ""]])
    },
    .init("a label value differs", false) { $0.networkServiceLabels = labels(["ns-a": ["app": "client"]]) },
    .init("a label the endpoint lacks", false) {
      $0.networkServiceLabels = labels(["ns-a": ["app": "server", "extra": "x"]])
    },
    .init("an empty-valued label the endpoint lacks", false) {
      $0.networkServiceLabels = labels(["ns-a": ["missing": ""]])
    },
    .init("labels of one service asked of another", false) {
      $0.networkServiceLabels = labels(["ns-b": ["app": "server"]])
    },
    .init("empty labels for a service with none", true) { $0.networkServiceLabels = labels(["ns-b": [:]]) },
    .init("empty labels for a service with some", true) { $0.networkServiceLabels = labels(["ns-a": [:]]) },
    .init("empty labels for an absent service (upstream: no match)", false) {
      $0.networkServiceLabels = labels(["ns-c": [:]])
    },
    .init("labels for an absent service", false) {
      $0.networkServiceLabels = labels(["ns-c": ["app": "server"]])
    },
    .init("labels for two services, both contained", true) {
      $0.networkServiceLabels = labels(["ns-a": ["zone": "eu"], "ns-b": [:]])
    },
    .init("labels for two services, one not contained", false) {
      $0.networkServiceLabels = labels(["ns-a": ["zone": "eu"], "ns-b": ["zone": "eu"]])
    },
    .init("labels against a record without any", false, record: .with { $0.name = "nse-1" }) {
      $0.networkServiceLabels = labels(["ns-a": ["app": "server"]])
    },

    // url: substring
    .init("url exact", true) { $0.url = "tcp://10.0.0.5:5003" },
    .init("url host substring", true) { $0.url = "10.0.0.5" },
    .init("url port substring", true) { $0.url = ":5003" },
    .init("url scheme substring", true) { $0.url = "tcp://" },
    .init("url not a substring", false) { $0.url = "10.0.0.6" },
    .init("url longer than the endpoint's", false) { $0.url = "tcp://10.0.0.5:50031" },
    .init("url differs in case", false) { $0.url = "TCP://" },
    .init("url against a record without one", false, record: .with { $0.name = "nse-1" }) { $0.url = "tcp" },

    // expiration_time: whole seconds
    .init("expiration same second, no nanos", true) {
      $0.expirationTime = .with { $0.seconds = expirationSeconds }
    },
    .init("expiration same second, other nanos", true) {
      $0.expirationTime = .with {
        $0.seconds = expirationSeconds
        $0.nanos = 999_999_999
      }
    },
    .init("expiration one second later", false) {
      $0.expirationTime = .with { $0.seconds = expirationSeconds + 1 }
    },
    .init("expiration one second earlier", false) {
      $0.expirationTime = .with { $0.seconds = expirationSeconds - 1 }
    },
    .init("zero expiration set against an endpoint with one", false) {
      $0.expirationTime = .with { $0.seconds = 0 }
    },
    .init("zero expiration set against an endpoint without one", true, record: .with { $0.name = "nse-1" }) {
      $0.expirationTime = .with { $0.seconds = 0 }
    },
    .init("expiration set against an endpoint without one", false, record: .with { $0.name = "nse-1" }) {
      $0.expirationTime = .with { $0.seconds = expirationSeconds }
    },

    // fields that are not compared
    .init("path ids are not compared", true) { $0.pathIds = ["other"] },
    .init("initial registration time is not compared", true) {
      $0.initialRegistrationTime = .with { $0.seconds = 42 }
    },

    // combinations: every set field must match
    .init("every field matching", true) {
      $0.name = "nse-1"
      $0.networkServiceNames = ["ns-b"]
      $0.networkServiceLabels = labels(["ns-a": ["app": "server"]])
      $0.url = "10.0.0.5"
      $0.expirationTime = .with { $0.seconds = expirationSeconds }
    },
    .init("every field matching but the url", false) {
      $0.name = "nse-1"
      $0.networkServiceNames = ["ns-b"]
      $0.networkServiceLabels = labels(["ns-a": ["app": "server"]])
      $0.url = "10.0.0.6"
      $0.expirationTime = .with { $0.seconds = expirationSeconds }
    },
    .init("name matching, services not", false) {
      $0.name = "nse-1"
      $0.networkServiceNames = ["ns-c"]
    },
    .init("services matching, name not", false) {
      $0.name = "nse-2"
      $0.networkServiceNames = ["ns-a"]
    },
  ]

  @Test("Registry_NetworkServiceEndpoint.matches(query:)", arguments: nseCases)
  func networkServiceEndpoint(_ testCase: NSECase) {
    #expect(testCase.record.matches(query: testCase.query) == testCase.matches)
  }

  // MARK: - Properties

  @Test("a record matches itself used as a query")
  func recordMatchesItself() {
    #expect(Self.ns.matches(query: Self.ns))
    #expect(Self.nse.matches(query: Self.nse))
    for testCase in Self.nsCases {
      #expect(testCase.query.matches(query: testCase.query), "\(testCase.label)")
    }
    for testCase in Self.nseCases {
      #expect(testCase.query.matches(query: testCase.query), "\(testCase.label)")
    }
  }

  @Test("an empty query matches every record in the tables")
  func emptyQueryMatchesEverything() {
    for testCase in Self.nsCases {
      #expect(testCase.record.matches(query: Registry_NetworkService()), "\(testCase.label)")
    }
    for testCase in Self.nseCases {
      #expect(testCase.record.matches(query: Registry_NetworkServiceEndpoint()), "\(testCase.label)")
    }
  }
}
