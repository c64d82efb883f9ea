import Foundation
import NSMAPI
import NSMCore
import SwiftProtobuf
import Testing

@Suite("RecordValidation")
struct RecordValidationTests {
  static let now = Date(timeIntervalSince1970: 1_700_000_000)

  static let validNS = Registry_NetworkService.with {
    $0.name = "icmp-responder"
    $0.payload = "ETHERNET"
    $0.matches = [
      .with {
        $0.sourceSelector = ["app": "client"]
        $0.routes = [.with { $0.destinationSelector = ["app": "server", "nodeName": "{{ .nodeName }}"] }]
        $0.metadata = .with { $0.labels = ["tier": "gold"] }
      },
      .with { $0.routes = [.with { $0.destinationSelector = [:] }] },
    ]
    $0.pathIds = ["a1b2", "c3d4"]
  }

  static let validNSE = Registry_NetworkServiceEndpoint.with {
    $0.name = "nse-1@cluster.local"
    $0.networkServiceNames = ["icmp-responder", "vl3@remote:5002"]
    $0.networkServiceLabels = [
      "icmp-responder": .with { $0.labels = ["app": "server", "empty": ""] },
      "vl3@remote:5002": .with { $0.labels = [:] },
    ]
    $0.url = "tcp://10.0.0.5:5003"
    $0.expirationTime = Google_Protobuf_Timestamp(date: now.addingTimeInterval(60))
    $0.pathIds = ["p1"]
  }

  // MARK: - Network Service

  struct NSCase: Sendable, CustomTestStringConvertible {
    var label: String
    var ns: Registry_NetworkService
    var mentions: [String]

    init(_ label: String, mentions: String..., change: (inout Registry_NetworkService) -> Void) {
      self.label = label
      var ns = RecordValidationTests.validNS
      change(&ns)
      self.ns = ns
      self.mentions = mentions
    }

    var testDescription: String { label }
  }

  static let validNSCases: [NSCase] = [
    .init("the full example") { _ in },
    .init("only a name") { $0 = .with { $0.name = "ns" } },
    .init("empty payload (the registry sets IP)") { $0.payload = "" },
    .init("payload IP") { $0.payload = "IP" },
    .init("maxListEntries matches") {
      $0.matches = Array(repeating: Registry_Match(), count: Limits.maxListEntries)
    },
    .init("maxListEntries routes") {
      $0.matches[0].routes = Array(repeating: Registry_Destination(), count: Limits.maxListEntries)
    },
    .init("empty selector value") { $0.matches[0].sourceSelector = ["app": ""] },
    .init("name with domain") { $0.name = "ns@[::1]:5002" },
  ]

  @Test("accepts valid network services", arguments: validNSCases)
  func acceptsNS(_ testCase: NSCase) throws {
    try RecordValidation.validate(testCase.ns)
  }

  static let invalidNSCases: [NSCase] = [
    .init("empty name", mentions: "network_service.name is empty") { $0.name = "" },
    .init("name with a space", mentions: "network_service.name", "U+0020") { $0.name = "icmp responder" },
    .init("name with bad domain", mentions: "network_service.name", "invalid port") { $0.name = "ns@h:0" },
    .init("unknown payload", mentions: "network_service.payload 'IPv6'") { $0.payload = "IPv6" },
    .init("lower-case payload", mentions: "network_service.payload 'ip'") { $0.payload = "ip" },
    .init("too many matches", mentions: "network_service.matches has 257 entries") {
      $0.matches = Array(repeating: Registry_Match(), count: Limits.maxListEntries + 1)
    },
    .init(
      "empty source selector key",
      mentions: "network_service.matches[1].source_selector",
      "empty label key"
    ) {
      $0.matches[1].sourceSelector = ["": "x"]
    },
    .init("control char in source selector", mentions: "network_service.matches[0].source_selector") {
      $0.matches[0].sourceSelector = ["app": "cli\u{0}ent"]
    },
    .init("too many source selector labels", mentions: "network_service.matches[0].source_selector has 65") {
      $0.matches[0].sourceSelector = Dictionary(
        uniqueKeysWithValues: (0...Limits.maxLabels).map { ("k\($0)", "v") }
      )
    },
    .init("bad metadata label", mentions: "network_service.matches[0].metadata.labels", "empty label key") {
      $0.matches[0].metadata.labels = ["": "gold"]
    },
    .init("too many routes", mentions: "network_service.matches[0].routes has 257 entries") {
      $0.matches[0].routes = Array(repeating: Registry_Destination(), count: Limits.maxListEntries + 1)
    },
    .init(
      "bad destination selector",
      mentions: "network_service.matches[1].routes[0].destination_selector[k] value is 1025 bytes"
    ) {
      $0.matches[1].routes[0].destinationSelector = ["k": string(ofBytes: Limits.maxLabelValueBytes + 1)]
    },
    .init("too many path ids", mentions: "network_service.path_ids has 257 entries") {
      $0.pathIds = Array(repeating: "p", count: Limits.maxListEntries + 1)
    },
    .init("path id too long", mentions: "network_service.path_ids[1] is 2049 bytes") {
      $0.pathIds = ["ok", string(ofBytes: Limits.maxURLBytes + 1)]
    },
    .init("record over maxRecordBytes", mentions: "the network service is", "limit is 65536") {
      // Every path id is within its own limit; only the encoded size is too large.
      $0.pathIds = Array(repeating: string(ofBytes: Limits.maxURLBytes), count: 33)
    },
  ]

  @Test("rejects invalid network services with INVALID_ARGUMENT naming the field", arguments: invalidNSCases)
  func rejectsNS(_ testCase: NSCase) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in
      try RecordValidation.validate(testCase.ns)
    }
    for fragment in testCase.mentions {
      expectMessage(error, contains: fragment)
    }
  }

  @Test("the size check counts encoded bytes and runs before the field checks")
  func sizeCheckedFirst() throws {
    var ns = Self.validNS
    ns.name = ""
    ns.pathIds = Array(repeating: string(ofBytes: Limits.maxURLBytes), count: 33)
    let bytes: [UInt8] = try ns.serializedBytes()
    let size = bytes.count
    #expect(size > Limits.maxRecordBytes)
    let error = try requireInvalidArgument { () throws(NSMError) in try RecordValidation.validate(ns) }
    #expect(error.message == "the network service is \(size) bytes encoded; the limit is 65536")
  }

  // MARK: - Network Service Endpoint

  struct NSECase: Sendable, CustomTestStringConvertible {
    var label: String
    var nse: Registry_NetworkServiceEndpoint
    var mentions: [String]

    init(_ label: String, mentions: String..., change: (inout Registry_NetworkServiceEndpoint) -> Void) {
      self.label = label
      var nse = RecordValidationTests.validNSE
      change(&nse)
      self.nse = nse
      self.mentions = mentions
    }

    var testDescription: String { label }
  }

  static let validNSECases: [NSECase] = [
    .init("the full example") { _ in },
    .init("only a name") { $0 = .with { $0.name = "nse" } },
    .init("no expiration time") { $0.clearExpirationTime() },
    .init("expiration one millisecond ahead") {
      $0.expirationTime = .with {
        $0.seconds = Int64(now.timeIntervalSince1970)
        $0.nanos = 1_000_000
      }
    },
    .init("URL of maxURLBytes") { $0.url = "tcp://" + string(ofBytes: Limits.maxURLBytes - 6) },
    .init("maxListEntries service names") {
      $0.networkServiceNames = (0..<Limits.maxListEntries).map { "ns-\($0)" }
    },
    .init("labels for a service it does not list") {
      $0.networkServiceLabels["other"] = .with { $0.labels = ["a": "b"] }
    },
  ]

  @Test("accepts valid endpoints", arguments: validNSECases)
  func acceptsNSE(_ testCase: NSECase) throws {
    try RecordValidation.validate(testCase.nse, now: Self.now)
  }

  static let invalidNSECases: [NSECase] = [
    .init("empty name", mentions: "network_service_endpoint.name is empty") { $0.name = "" },
    .init("name with slash", mentions: "network_service_endpoint.name", "'/'") { $0.name = "ns/nse" },
    .init(
      "expiration in the past",
      mentions: "network_service_endpoint.expiration_time",
      "is not in the future"
    ) {
      $0.expirationTime = Google_Protobuf_Timestamp(date: now.addingTimeInterval(-1))
    },
    .init(
      "expiration exactly now",
      mentions: "network_service_endpoint.expiration_time",
      "is not in the future"
    ) {
      $0.expirationTime = Google_Protobuf_Timestamp(date: now)
    },
    .init("expiration at the epoch", mentions: "is not in the future") {
      $0.expirationTime = .with { $0.seconds = 0 }
    },
    .init("negative expiration seconds", mentions: "expiration_time is not a valid timestamp") {
      $0.expirationTime = .with { $0.seconds = -1 }
    },
    .init("expiration after year 9999", mentions: "expiration_time is not a valid timestamp") {
      $0.expirationTime = .with { $0.seconds = 253_402_300_800 }
    },
    .init("expiration nanos out of range", mentions: "expiration_time is not a valid timestamp") {
      $0.expirationTime = .with {
        $0.seconds = 1_800_000_000
        $0.nanos = 1_000_000_000
      }
    },
    .init("negative expiration nanos", mentions: "expiration_time is not a valid timestamp") {
      $0.expirationTime = .with {
        $0.seconds = 1_800_000_000
        $0.nanos = -1
      }
    },
    .init("bad service name", mentions: "network_service_endpoint.network_service_names[1]", "U+0020") {
      $0.networkServiceNames = ["icmp-responder", "bad name"]
    },
    .init("empty service name", mentions: "network_service_endpoint.network_service_names[0] is empty") {
      $0.networkServiceNames = [""]
    },
    .init(
      "too many service names",
      mentions: "network_service_endpoint.network_service_names has 257 entries"
    ) {
      $0.networkServiceNames = (0...Limits.maxListEntries).map { "ns-\($0)" }
    },
    .init("bad service in labels map", mentions: "network_service_endpoint.network_service_labels key") {
      $0.networkServiceLabels["a@b@c"] = Registry_NetworkServiceLabels()
    },
    .init(
      "bad label for a service",
      mentions: "network_service_endpoint.network_service_labels[icmp-responder]"
    ) {
      $0.networkServiceLabels["icmp-responder"] = .with { $0.labels = ["app\n": "x"] }
    },
    .init(
      "too many services in labels map",
      mentions: "network_service_endpoint.network_service_labels has 257 services"
    ) {
      $0.networkServiceLabels = Dictionary(
        uniqueKeysWithValues: (0...Limits.maxListEntries).map {
          ("ns-\($0)", Registry_NetworkServiceLabels())
        }
      )
    },
    .init("URL too long", mentions: "network_service_endpoint.url is 2049 bytes", "limit is 2048") {
      $0.url = "tcp://" + string(ofBytes: Limits.maxURLBytes - 5)
    },
    .init("URL with a space", mentions: "network_service_endpoint.url contains whitespace") {
      $0.url = "tcp://host :1"
    },
    .init("URL with a newline", mentions: "network_service_endpoint.url contains whitespace") {
      $0.url = "tcp://host:1\n"
    },
    .init("path id too long", mentions: "network_service_endpoint.path_ids[0] is 2049 bytes") {
      $0.pathIds = [string(ofBytes: Limits.maxURLBytes + 1)]
    },
    .init("record over maxRecordBytes", mentions: "the network service endpoint is", "limit is 65536") {
      $0.pathIds = Array(repeating: string(ofBytes: Limits.maxURLBytes), count: 33)
    },
  ]

  @Test("rejects invalid endpoints with INVALID_ARGUMENT naming the field", arguments: invalidNSECases)
  func rejectsNSE(_ testCase: NSECase) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in
      try RecordValidation.validate(testCase.nse, now: Self.now)
    }
    for fragment in testCase.mentions {
      expectMessage(error, contains: fragment)
    }
  }

  @Test("a past expiration is rendered as an ISO 8601 time in the message")
  func pastExpirationMessage() throws {
    var nse = Self.validNSE
    nse.expirationTime = .with { $0.seconds = 1_699_999_999 }
    let error = try requireInvalidArgument { () throws(NSMError) in
      try RecordValidation.validate(nse, now: Self.now)
    }
    expectMessage(error, contains: "2023-11-14T22:13:19")
  }

  @Test("the same endpoint passes or fails depending on now")
  func expirationIsRelativeToNow() throws {
    let nse = Self.validNSE
    try RecordValidation.validate(nse, now: Self.now.addingTimeInterval(59))
    try requireInvalidArgument { () throws(NSMError) in
      try RecordValidation.validate(nse, now: Self.now.addingTimeInterval(60))
    }
  }

  // MARK: - Names and queries

  @Test("an Unregister name is checked under its kind's field")
  func unregisterName() throws {
    let field = RecordValidation.nameField(kind: "network service endpoint")
    #expect(field == "network_service_endpoint.name")
    try NameRules.validate("nse-1", field: field)
    let error = try requireInvalidArgument { () throws(NSMError) in
      try NameRules.validate("", field: field)
    }
    #expect(error.message == "network_service_endpoint.name is empty")
  }

  @Test("validateQuery allows an empty (wildcard) name")
  func queryWithEmptyName() throws {
    try RecordValidation.validateQuery(Registry_NetworkService(), name: "", kind: "network service")
    try RecordValidation.validateQuery(
      Registry_NetworkServiceEndpoint.with { $0.url = "10.0" },
      name: "",
      kind: "network service endpoint"
    )
  }

  @Test(
    "validateQuery rejects an invalid name, naming <kind>.name",
    arguments: [
      ("network service", "network_service.name"),
      ("network service endpoint", "network_service_endpoint.name"),
    ]
  )
  func queryWithBadName(kind: String, field: String) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in
      try RecordValidation.validateQuery(Registry_NetworkService(), name: "a b", kind: kind)
    }
    #expect(error.message.hasPrefix(field + " "))
  }

  @Test("validateQuery rejects an oversized template")
  func oversizedQuery() throws {
    let template = Registry_NetworkServiceEndpoint.with { $0.url = string(ofBytes: Limits.maxRecordBytes) }
    let error = try requireInvalidArgument { () throws(NSMError) in
      try RecordValidation.validateQuery(template, name: "", kind: "network service endpoint")
    }
    expectMessage(error, contains: "the network service endpoint query is")
  }

  @Test("payloads are IP and ETHERNET")
  func payloads() {
    #expect(RecordValidation.payloads == ["IP", "ETHERNET"])
  }
}
