import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// Heal and expiry (reference §4.2, §4.5): a dead endpoint, a restarted manager, a client that
/// vanished, and a connection between two nodes.
@Suite("Heal and expiry", .serialized)
struct HealTests {
  static let simple = """
    apiVersion: networkservicemesh.io/v1
    kind: NetworkService
    metadata: {name: simple}
    spec: {payload: IP}
    """

  @Test func killingTheSelectedEndpointMovesTheClientToAnotherOne() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.simple)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      let a = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.90.0.0/24")
      let b = try await sandbox.endpoint("nse-b", manager: manager, services: ["simple"], cidr: "10.91.0.0/24")
      let client = try sandbox.client("nsc-1", manager: manager, services: ["simple"])
      var lines = ConnectionLines(client)
      let first = try await lines.next()
      let (selected, other) = first.networkServiceEndpointName == "nse-a" ? (a, "nse-b") : (b, "nse-a")
      selected.signal(SIGKILL)
      let healed = try await lines.next(within: .seconds(10)) {
        $0.state == .up && $0.networkServiceEndpointName == other
      }
      #expect(healed.id == first.id, "the client keeps its connection id")
      #expect(healed.hops == ["nsc-1", "mgr-1", other])
    }
  }

  @Test func aRestartedManagerIsRejoinedByItsClientAndEndpoints() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.simple)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.92.0.0/24")
      let client = try sandbox.client("nsc-1", manager: manager, services: ["simple"])
      var lines = ConnectionLines(client)
      let first = try await lines.next()
      manager.process.signal(SIGKILL)
      _ = await manager.process.waitForExit()
      let restarted = try await sandbox.manager("mgr-1", node: "node-1", port: manager.url)
      // The endpoint registers again at once and the client re-requests: the manager holds
      // the connection again.
      #expect(
        try await eventually(within: .seconds(15)) {
          let listing = try await NSMProcess.run([
            "get", "connections", "--manager", restarted.url.description, "-o", "json",
          ])
          return listing.stdout.contains(first.path.pathSegments[0].id)
        }
      )
      #expect(client.process.isRunning)
    }
  }

  @Test func aVanishedClientsConnectionIsClosedAtExpiryAndItsAddressFreed() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.simple)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      // A /30 holds exactly one pair of addresses: a second client gets in only once the first
      // one's are free again.
      _ = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.93.0.0/30")
      let doomed = try sandbox.client(
        "nsc-1",
        manager: manager,
        services: ["simple"],
        arguments: ["--max-token-lifetime", "2s"]
      )
      var lines = ConnectionLines(doomed)
      let connection = try await lines.next()
      #expect(connection.clientAddress == "10.93.0.2/32")
      doomed.signal(SIGKILL)
      let endpointSocket = "unix://\(sandbox.folder)/nse-a.sock"
      #expect(
        try await eventually(within: .seconds(15)) {
          let atManager = try await NSMProcess.run([
            "get", "connections", "--manager", manager.url.description, "-o", "json",
          ])
          let atEndpoint = try await NSMProcess.run(["get", "connections", "--manager", endpointSocket, "-o", "json"])
          return atManager.status == 0 && atManager.stdout.isEmpty && atEndpoint.status == 0
            && atEndpoint.stdout.isEmpty
        }
      )
      let next = try sandbox.client("nsc-2", manager: manager, services: ["simple"])
      var nextLines = ConnectionLines(next)
      #expect(try await nextLines.next().clientAddress == "10.93.0.2/32")
    }
  }

  @Test func aRemoteEndpointIsReachedThroughItsNodesManagerOverVXLAN() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.simple)
      let node1 = try await sandbox.manager("mgr-1", node: "node-1")
      let node2 = try await sandbox.manager("mgr-2", node: "node-2")
      _ = try await sandbox.endpoint("nse-2", manager: node2, services: ["simple"], cidr: "10.94.0.0/24")
      let client = try sandbox.client("nsc-1", manager: node1, services: ["simple"])
      var lines = ConnectionLines(client)
      let connection = try await lines.next()
      #expect(connection.hops == ["nsc-1", "mgr-1", "mgr-2", "nse-2"])
      #expect(connection.mechanism.type == "KERNEL", "the client's side is its own interface")
      // Between the managers: VXLAN, the second node choosing the VNI.
      let listing = try await NSMProcess.run(["get", "connections", "--manager", node2.url.description, "-o", "json"])
      let atNode2 = try Connection_Connection(
        jsonString: try #require(listing.stdout.split(separator: "\n").first.map(String.init))
      )
      #expect(atNode2.mechanism.type == "VXLAN")
      #expect(atNode2.mechanism.parameters["src_ip"] == "127.0.0.1")
      #expect(atNode2.mechanism.parameters["dst_port"] == "4789")
      #expect(UInt32(atNode2.mechanism.parameters["vni"] ?? "") ?? 0 > 0)
    }
  }

  @Test func aClientRefreshesBeforeItsTokensExpire() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(Self.simple)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.136.0.0/24")
      // Tokens of 2 s: the client refreshes at a fifth of what is left, the manager closes at
      // expiry; after 6 s (three lifetimes) only refreshes keep the connection.
      let client = try sandbox.client(
        "nsc-1",
        manager: manager,
        services: ["simple"],
        arguments: ["--max-token-lifetime", "2s"]
      )
      var lines = ConnectionLines(client)
      let first = try await lines.next()
      try await Task.sleep(for: .seconds(6))
      let listing = try await NSMProcess.run(["get", "connections", "--manager", manager.url.description, "-o", "json"])
      let held = try Connection_Connection(
        jsonString: try #require(listing.stdout.split(separator: "\n").first.map(String.init))
      )
      #expect(held.path.pathSegments.first?.id == first.id)
      #expect(held.context == first.context, "the same addresses across refreshes")
      #expect(held.path.pathSegments[0].expires.date > Date(), "refreshed: the client's segment is not expired")
      #expect(client.process.isRunning)
    }
  }
}
