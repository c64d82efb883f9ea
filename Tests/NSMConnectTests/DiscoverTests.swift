import Foundation
import GRPCCore
import Logging
import NSMAPI
import NSMConnect
import NSMCore
import SwiftProtobuf
import Synchronization
import Testing

/// Upstream's discover scenarios (reference §3.8) against a fixed directory: what reaches the
/// next element, and what does not.
@Suite("Discover")
struct DiscoverTests {
  struct Directory: EndpointDirectory {
    var services: [Registry_NetworkService]
    var endpoints: [Registry_NetworkServiceEndpoint]

    func service(named name: String, context: ConnectContext) async throws -> Registry_NetworkService? {
      services.first { $0.name == name }
    }

    func endpoints(providing service: String, context: ConnectContext) async throws -> [Registry_NetworkServiceEndpoint]
    {
      endpoints.filter { $0.networkServiceNames.contains(service) }
    }

    func endpoint(named name: String, context: ConnectContext) async throws -> Registry_NetworkServiceEndpoint? {
      endpoints.first { $0.name == name }
    }
  }

  /// Records the candidates discovery handed on, and Closes that reached it.
  final class Capture: ConnectElement {
    let candidates = Mutex<[String]?>(nil)
    let closes = Mutex(0)

    func request<Next: ConnectHandler>(
      _ request: Networkservice_NetworkServiceRequest,
      context: ConnectContext,
      next: Next
    ) async throws -> Connection_Connection {
      candidates.withLock { $0 = context.discovery?.candidates.map(\.name) }
      return request.connection
    }

    func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
      async throws
    {
      closes.withLock { $0 += 1 }
    }
  }

  static let logger = Logger(label: "test")

  static func endpoint(_ name: String, _ labels: [String: String] = [:], expires: Date? = nil)
    -> Registry_NetworkServiceEndpoint
  {
    .with {
      $0.name = name
      $0.networkServiceNames = ["ns-1"]
      $0.networkServiceLabels = ["ns-1": .with { $0.labels = labels }]
      if let expires { $0.expirationTime = Google_Protobuf_Timestamp(date: expires) }
    }
  }

  static func request(_ service: String, labels: [String: String] = [:], endpoint: String = "")
    -> Networkservice_NetworkServiceRequest
  {
    .with {
      $0.connection.networkService = service
      $0.connection.labels = labels
      $0.connection.networkServiceEndpointName = endpoint
    }
  }

  static func discover(_ directory: Directory, _ request: Networkservice_NetworkServiceRequest) async throws
    -> [String]?
  {
    let capture = Capture()
    let chain = ConnectChain {
      DiscoverElement(directory: directory)
      capture
    }
    _ = try await chain.request(request, context: ConnectContext(logger: logger))
    return capture.candidates.withLock { $0 }
  }

  static let matching = Registry_NetworkService.with {
    $0.name = "ns-1"
    $0.matches = [
      .with {
        $0.sourceSelector = ["app": "firewall"]
        $0.routes = [.with { $0.destinationSelector = ["app": "some-middle-app"] }]
      },
      .with { $0.routes = [.with { $0.destinationSelector = ["app": "vl3"] }] },
    ]
  }

  @Test func labelsPickTheirRouteAndNoLabelsTheCatchAll() async throws {
    let directory = Directory(
      services: [Self.matching],
      endpoints: [Self.endpoint("middle", ["app": "some-middle-app"]), Self.endpoint("vl3", ["app": "vl3"])]
    )
    #expect(try await Self.discover(directory, Self.request("ns-1")) == ["vl3"])
    #expect(try await Self.discover(directory, Self.request("ns-1", labels: ["app": "firewall"])) == ["middle"])
  }

  @Test func anEndpointNamedInTheRequestIsTheOnlyCandidateAndMustExistExactly() async throws {
    let directory = Directory(services: [Self.matching], endpoints: [Self.endpoint("nse-1"), Self.endpoint("nse-10")])
    #expect(try await Self.discover(directory, Self.request("ns-1", endpoint: "nse-1")) == ["nse-1"])
    let error = try await #require(throws: NSMError.self) {
      _ = try await Self.discover(directory, Self.request("ns-1", endpoint: "nse"))
    }
    #expect(error.code == .notFound)
    #expect(error.message.contains("network service endpoint 'nse' not found"))
  }

  @Test func unknownServicesAndServicesWithoutEndpointsAreNotFound() async throws {
    let directory = Directory(services: [Self.matching], endpoints: [])
    let unknown = try await #require(throws: NSMError.self) {
      _ = try await Self.discover(directory, Self.request("ns"))
    }
    #expect(unknown.code == .notFound)
    #expect(unknown.message == "network service 'ns' is not found", "exact names: ns is not ns-1")
    let empty = try await #require(throws: NSMError.self) {
      _ = try await Self.discover(directory, Self.request("ns-1"))
    }
    #expect(empty.code == .notFound)
    #expect(empty.message.contains("has no endpoints"))
  }

  @Test func expiredRegistrationsAreNoCandidates() async throws {
    let directory = Directory(
      services: [.with { $0.name = "ns-1" }],
      endpoints: [
        Self.endpoint("gone", expires: Date().addingTimeInterval(-1)),
        Self.endpoint("live", expires: Date().addingTimeInterval(60)),
        Self.endpoint("forever"),
      ]
    )
    #expect(try await Self.discover(directory, Self.request("ns-1")) == ["live", "forever"])
  }

  @Test func aCloseForAnUnknownEndpointStillReachesTheRest() async throws {
    let capture = Capture()
    let chain = ConnectChain {
      DiscoverElement(directory: Directory(services: [], endpoints: []))
      capture
    }
    var connection = Connection_Connection()
    connection.networkServiceEndpointName = "unknown"
    try await chain.close(connection, context: ConnectContext(logger: Self.logger))
    #expect(capture.closes.withLock { $0 } == 1)
  }

  /// A directory that can go away (the registry unreachable) and come back without an endpoint.
  final class FlakyDirectory: EndpointDirectory {
    let down = Mutex(false)
    let endpoints = Mutex([DiscoverTests.endpoint("nse-1"), DiscoverTests.endpoint("nse-2")])

    func check() throws {
      if down.withLock({ $0 }) { throw RPCError(code: .unavailable, message: "registry unreachable") }
    }

    func service(named name: String, context: ConnectContext) async throws -> Registry_NetworkService? {
      try check()
      return .with { $0.name = name }
    }

    func endpoints(providing service: String, context: ConnectContext) async throws -> [Registry_NetworkServiceEndpoint]
    {
      try check()
      return endpoints.withLock { $0 }
    }

    func endpoint(named name: String, context: ConnectContext) async throws -> Registry_NetworkServiceEndpoint? {
      try check()
      return endpoints.withLock { $0.first { $0.name == name } }
    }
  }

  /// Answers with the first candidate, as a connect element would.
  final class FirstCandidate: ConnectElement {
    let candidates = Mutex<[String]?>(nil)

    func request<Next: ConnectHandler>(
      _ request: Networkservice_NetworkServiceRequest,
      context: ConnectContext,
      next: Next
    ) async throws -> Connection_Connection {
      let names = context.discovery?.candidates.map(\.name) ?? []
      candidates.withLock { $0 = names }
      var answer = request.connection
      answer.networkServiceEndpointName = names.first ?? ""
      return answer
    }
  }

  @Test func aRefreshDuringARegistryOutageKeepsItsEndpointAndNothingElseDoes() async throws {
    let directory = FlakyDirectory()
    let answering = FirstCandidate()
    let chain = ConnectChain {
      DiscoverElement(directory: directory)
      answering
    }
    let context = ConnectContext(logger: Self.logger)
    func request(_ id: String, endpoint: String = "") -> Networkservice_NetworkServiceRequest {
      var request = Self.request("ns-1", endpoint: endpoint)
      request.connection.id = id
      return request
    }
    let first = try await chain.request(request("c-1"), context: context)
    #expect(first.networkServiceEndpointName == "nse-1")

    directory.down.withLock { $0 = true }
    let refreshed = try await chain.request(request("c-1", endpoint: "nse-1"), context: context)
    #expect(refreshed.networkServiceEndpointName == "nse-1")
    #expect(answering.candidates.withLock { $0 } == ["nse-1"])
    // Another endpoint, or a connection never discovered here: the outage is the answer.
    await #expect(throws: RPCError.self) {
      try await chain.request(request("c-1", endpoint: "nse-2"), context: context)
    }
    await #expect(throws: RPCError.self) {
      try await chain.request(request("c-2", endpoint: "nse-1"), context: context)
    }

    // The registry back, without the endpoint: gone is gone.
    directory.down.withLock { $0 = false }
    directory.endpoints.withLock { $0.removeAll { $0.name == "nse-1" } }
    await #expect(throws: NSMError.self) {
      try await chain.request(request("c-1", endpoint: "nse-1"), context: context)
    }

    // After a Close nothing is remembered.
    directory.endpoints.withLock { $0.append(Self.endpoint("nse-1")) }
    _ = try await chain.request(request("c-3", endpoint: "nse-1"), context: context)
    try await chain.close(request("c-3", endpoint: "nse-1").connection, context: context)
    directory.down.withLock { $0 = true }
    await #expect(throws: RPCError.self) {
      try await chain.request(request("c-3", endpoint: "nse-1"), context: context)
    }
  }
}
