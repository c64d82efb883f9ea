import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// What an operator sees through a manager: the registry passing through it, and its
/// connections as they change.
@Suite("Operating a manager", .serialized)
struct OperatorTests {
  @Test func registryCallsPassThroughTheManagerAndConnectionsCanBeWatched() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(MonitorAndErrorTests.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1", arguments: ["--cluster-name", "east"])
      _ = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.120.0.0/24")

      // Finds pass through the manager; the registration carries its URL and the node's labels.
      let found = try await NSMProcess.run([
        "get", "nse", "nse-a", "-o", "json", "--registry", manager.socket.description,
      ])
      #expect(found.status == 0, "\(found.stderr)")
      #expect(found.stdout.contains(manager.url.description), "\(found.stdout)")
      #expect(found.stdout.contains("\"nodeName\" : \"node-1\""), "\(found.stdout)")
      #expect(found.stdout.contains("\"clusterName\" : \"east\""), "\(found.stdout)")

      let watcher = try sandbox.start([
        "get", "connections", "--watch", "-o", "json", "--manager", manager.url.description,
      ])
      try await Task.sleep(for: .milliseconds(300))
      let client = try sandbox.client("nsc-1", manager: manager, services: ["simple"])
      var lines = ConnectionLines(client)
      _ = try await lines.next()
      client.signal(SIGTERM)
      #expect(await client.waitForExit() == 0)
      #expect(
        await eventually(within: .seconds(10)) {
          let log = watcher.stdoutLog
          // Seen as an UPDATE, or in the first snapshot when the watch began late (under load
          // the 300 ms head start is not always enough; an empty snapshot prints nothing).
          return log.contains {
            ($0.hasPrefix("{\"type\":\"UPDATE\"") || $0.hasPrefix("{\"type\":\"INITIAL\"")) && $0.contains("nse-a")
          }
            && log.contains { $0.hasPrefix("{\"type\":\"DELETE\"") }
        },
        "\(watcher.stdoutLog)"
      )
    }
  }

  @Test func anEndpointRenewsItsLeaseAndUnregistersOnSIGTERM() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(MonitorAndErrorTests.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      let endpoint = try await sandbox.endpoint(
        "nse-a",
        manager: manager,
        services: ["simple"],
        cidr: "10.121.0.0/24",
        arguments: ["--expire-period", "2s"]
      )
      let registry = sandbox.registry.description
      // Three leases later it is still registered: it renewed.
      try await Task.sleep(for: .seconds(5))
      let later = try await NSMProcess.run(["get", "nse", "nse-a", "--registry", registry])
      #expect(later.status == 0, "\(later.stderr)")
      endpoint.signal(SIGTERM)
      #expect(await endpoint.waitForExit() == 0)
      let after = try await NSMProcess.run(["get", "nse", "nse-a", "--registry", registry])
      #expect(after.status != 0, "unregistered at once, not at expiry: \(after.stdout)")
    }
  }
}
