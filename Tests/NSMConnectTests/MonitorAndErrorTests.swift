import Foundation
import GRPCCore
import NSMAPI
import NSMAPIGRPC
import NSMConnect
import NSMCore
import NSMTesting
import NSMTransport
import Testing

/// MonitorConnections semantics (reference §4.6) and the errors a caller meets, over the wire
/// with a gRPC client as upstream's would be.
@Suite("Monitor and errors", .serialized)
struct MonitorAndErrorTests {
  static let services = """
    apiVersion: networkservicemesh.io/v1
    kind: NetworkService
    metadata: {name: simple}
    spec: {payload: IP}
    ---
    apiVersion: networkservicemesh.io/v1
    kind: NetworkService
    metadata: {name: picky}
    spec:
      matches:
      - source_selector: {app: foo}
        routes: [{destination_selector: {tier: gold}}]
    """

  /// A Request as a client sends it: its own path segment, whose id is the connection's.
  static func request(_ service: String, labels: [String: String] = [:]) -> Networkservice_NetworkServiceRequest {
    let id = UUID().uuidString
    return .with {
      $0.connection.id = id
      $0.connection.networkService = service
      $0.connection.labels = labels
      $0.connection.path.pathSegments = [
        .with {
          $0.name = "test-client"
          $0.id = id
          $0.expires = .init(date: Date().addingTimeInterval(60))
        }
      ]
      $0.mechanismPreferences = [Mechanisms.kernel(interface: "nsm-1", inodeURL: "file:///proc/1/ns/net")]
    }
  }

  @Test func monitorSendsTheStateThenUpdatesAndDeletesAndDownWhenTheEndpointLeaves() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      let endpoint = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.95.0.0/24")
      try await ClientFactory().with(address: manager.url) { grpc in
        let monitor = Connection_MonitorConnection.Client(wrapping: grpc)
        let networkService = Networkservice_NetworkService.Client(wrapping: grpc)
        try await monitor.monitorConnections(Connection_MonitorScopeSelector()) { response in
          var events = response.messages.makeAsyncIterator()
          let initial = try #require(try await events.next())
          #expect(initial.type == .initialStateTransfer)
          #expect(initial.connections.isEmpty, "sent even when empty")

          let request = Self.request("simple")
          let connection = try await networkService.request(request)
          let update = try #require(try await events.next())
          #expect(update.type == .update)
          let held = try #require(update.connections.values.first)
          #expect(held.networkServiceEndpointName == "nse-a")
          #expect(held.path.index == 1, "the manager reports its own view")
          #expect(connection.id == request.connection.id, "the answer is the caller's view")

          _ = try await networkService.close(connection)
          let delete = try #require(try await events.next())
          #expect(delete.type == .delete)

          // Again, then the endpoint leaves: its connection turns DOWN.
          let again = Self.request("simple")
          _ = try await networkService.request(again)
          _ = try await events.next()
          endpoint.signal(SIGTERM)
          let down = try #require(try await events.next())
          #expect(down.type == .update)
          #expect(down.connections.values.first?.state == .down)
        }
      }
    }
  }

  @Test func aScopedMonitorSeesOnlyItsConnections() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.96.0.0/24")
      try await ClientFactory().with(address: manager.url) { grpc in
        let networkService = Networkservice_NetworkService.Client(wrapping: grpc)
        let mine = Self.request("simple")
        var theirs = Self.request("simple")
        theirs.connection.path.pathSegments[0].name = "someone-else"
        _ = try await networkService.request(mine)
        _ = try await networkService.request(theirs)
        let selector = Connection_MonitorScopeSelector.with {
          $0.pathSegments = [.with { $0.id = mine.connection.id }]
        }
        let initial = try await Connection_MonitorConnection.Client(wrapping: grpc).monitorConnections(selector) {
          response in
          var events = response.messages.makeAsyncIterator()
          return try await events.next()
        }
        #expect(initial?.connections.count == 1)
        #expect(initial?.connections.values.first?.path.pathSegments.first?.id == mine.connection.id)
      }
    }
  }

  @Test func callersGetPreciseErrorsAndNothingStaysBehind() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint(
        "nse-a",
        manager: manager,
        services: ["simple", "picky"],
        labels: ["tier": "silver"],
        cidr: "10.97.0.0/24"
      )
      try await ClientFactory().with(address: manager.url) { grpc in
        let networkService = Networkservice_NetworkService.Client(wrapping: grpc)
        func status(_ request: Networkservice_NetworkServiceRequest) async -> RPCError? {
          do {
            _ = try await networkService.request(request)
            return nil
          } catch {
            return error as? RPCError
          }
        }
        let unknown = await status(Self.request("nope"))
        #expect(unknown?.code == .notFound)
        #expect(unknown?.message.contains("network service 'nope' is not found") == true)

        let unmatched = await status(Self.request("picky", labels: ["app": "foo"]))
        #expect(unmatched?.code == .notFound)
        #expect(unmatched?.message.contains("app=foo") == true, "\(unmatched?.message ?? "")")
        #expect(unmatched?.message.contains("picky") == true)

        var noMechanism = Self.request("simple")
        noMechanism.mechanismPreferences = []
        #expect(await status(noMechanism)?.code == .invalidArgument)

        var badMechanism = Self.request("simple")
        badMechanism.mechanismPreferences = [Mechanisms.kernel(interface: "a/b", inodeURL: nil)]
        #expect(await status(badMechanism)?.code == .invalidArgument)

        var badLabels = Self.request("simple", labels: ["": "x"])
        badLabels.connection.labels = ["": "x"]
        #expect(await status(badLabels)?.code == .invalidArgument)

        var noExpiry = Self.request("simple")
        noExpiry.connection.path.pathSegments[0].clearExpires()
        let expiry = await status(noExpiry)
        #expect(expiry?.code == .invalidArgument)
        #expect(expiry?.message.contains("no expiry") == true)

        var forged = Self.request("simple")
        forged.connection.path.pathSegments[0].id = "not-the-connection"
        #expect(await status(forged)?.code == .invalidArgument)
      }
      // None of them left a connection behind.
      let listing = try await NSMProcess.run(["get", "connections", "--manager", manager.url.description, "-o", "json"])
      #expect(listing.stdout.isEmpty, "\(listing.stdout)")
    }
  }

  @Test func anUnreachableEndpointIsUnavailableNamingWhatWasTried() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      let endpoint = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.98.0.0/24")
      endpoint.signal(SIGKILL)
      _ = await endpoint.waitForExit()
      let result = try await NSMProcess.run([
        "client", "--connect-to", manager.socket.description, "--network-service", "simple", "--request-timeout", "2s",
      ])
      #expect(result.status == 1)
      #expect(result.stderr.contains("UNAVAILABLE"), "\(result.stderr)")
      #expect(result.stderr.contains("nse-a"), "\(result.stderr)")
    }
  }

  @Test func theClientRefusesBadURLsAndReportsTheServersReason() async throws {
    let bad = try await NSMProcess.run(["client", "--network-service", "kernel://simple/way-too-long-interface-name"])
    #expect(bad.status != 0)
    #expect(bad.stderr.contains("--network-service / NSM_NETWORK_SERVICES"))
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      let result = try await NSMProcess.run([
        "client", "--connect-to", manager.socket.description, "--network-service", "nope", "--request-timeout", "3s",
      ])
      #expect(result.status == 1)
      #expect(result.stderr.contains("network service 'nope' is not found"), "\(result.stderr)")
      #expect(result.stderr.contains("NOT_FOUND"))
    }
  }
}
