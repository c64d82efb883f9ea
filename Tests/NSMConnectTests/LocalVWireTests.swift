import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// `nsm manager --dataplane kernel`: a local vWire is a veth pair whose ends the manager puts
/// into the client's and the endpoint's namespaces, addressed from the connection. Everything
/// runs in namespaces the test makes (the manager and registry in a "node" namespace); traffic
/// and addresses stay inside them.
@Suite("Local vWires carry packets", .serialized, .enabled(if: TestNamespaces.available))
struct LocalVWireTests {
  @Test func aClientAndItsEndpointPingEachOtherAndCloseLeavesNoInterface() async throws {
    try await TestNamespaces.run(["node", "client", "endpoint"]) { namespaces in
      let roles = ["registry": "node", "apply": "node", "mgr-local": "node", "nse-1": "endpoint", "nsc-1": "client"]
      try await ConnectSandbox.run(launcher: { name in roles[name].map(namespaces.launcher) ?? [] }) { sandbox in
        try await sandbox.apply(MonitorAndErrorTests.services)
        let manager = try await sandbox.manager("mgr-local", node: "node-1", arguments: ["--dataplane", "kernel"])
        _ = try await sandbox.endpoint("nse-1", manager: manager, services: ["simple"], cidr: "10.130.0.0/24")
        let client = try sandbox.client("nsc-1", manager: manager, services: ["kernel://simple/nsm-1"])
        var lines = ConnectionLines(client)
        let connection = try await lines.next()
        let clientAddress = try #require(connection.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
        let endpointAddress = try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
        let endpointInterface = try #require(
          try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output.split(separator: "\n")
            .first { $0.contains("nsm-") }
        )

        let shown = try await namespaces.exec("client", ["ip", "-o", "address", "show", "dev", "nsm-1"])
        #expect(shown.status == 0)
        #expect(shown.output.contains("\(clientAddress)/32"), "\(shown.output)")
        let there = try await namespaces.exec(
          "client",
          ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(endpointAddress)]
        )
        #expect(there.status == 0, "\(there.output)")
        let back = try await namespaces.exec(
          "endpoint",
          ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(clientAddress)]
        )
        #expect(back.status == 0, "\(back.output)")
        #expect(endpointInterface.contains("alias nsm/mgr-local/"), "\(endpointInterface)")
        let streamed = try await namespaces.tcpStream(from: "client", to: "endpoint", address: String(endpointAddress))
        #expect(streamed.received == 4 << 20 && streamed.intact, "a TCP stream crosses the vWire whole: \(streamed)")

        client.signal(SIGTERM)
        #expect(await client.waitForExit() == 0)
        let gone = try await namespaces.exec("client", ["ip", "link", "show", "dev", "nsm-1"])
        #expect(gone.status != 0, "the client's interface is removed on Close")
        let endpointLinks = try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output
        #expect(!endpointLinks.contains("nsm-"), "\(endpointLinks)")
      }
    }
  }
}

/// A vWire between two nodes: each manager makes a VXLAN link on its tunnel address and moves
/// it into its workload's namespace. The nodes are two namespaces joined by a veth "underlay"
/// with addresses only inside them.
@Suite("Remote vWires carry packets", .serialized, .enabled(if: TestNamespaces.available))
struct RemoteVWireTests {
  @Test func aClientPingsAnEndpointOnAnotherNodeOverVXLAN() async throws {
    try await TestNamespaces.run(["node1", "node2", "client", "endpoint"]) { namespaces in
      try await namespaces.withTwoNodes(
        managers: ("mgr-r1", "mgr-r2"),
        roles: ["nse-2": "endpoint", "nsc-1": "client"]
      ) { sandbox, manager1, manager2 in
        _ = try await sandbox.endpoint("nse-2", manager: manager2, services: ["simple"], cidr: "10.131.0.0/24")
        let client = try sandbox.client("nsc-1", manager: manager1, services: ["kernel://simple/nsm-1"])
        var lines = ConnectionLines(client)
        let connection = try await lines.next()
        #expect(connection.hops == ["nsc-1", "mgr-r1", "mgr-r2", "nse-2"])
        let clientAddress = try #require(connection.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
        let endpointAddress = try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)

        let link = try await namespaces.exec("client", ["ip", "-d", "link", "show", "dev", "nsm-1"])
        #expect(link.output.contains("vxlan id"), "\(link.output)")
        #expect(link.output.contains("dstport 4789"), "\(link.output)")
        #expect(link.output.contains("mtu 1446"), "the underlay's 1500 less 54 for the encapsulation: \(link.output)")
        let there = try await namespaces.exec(
          "client",
          ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(endpointAddress)]
        )
        #expect(there.status == 0, "\(there.output)")
        let back = try await namespaces.exec(
          "endpoint",
          ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(clientAddress)]
        )
        #expect(back.status == 0, "\(back.output)")
        let streamed = try await namespaces.tcpStream(from: "client", to: "endpoint", address: String(endpointAddress))
        #expect(streamed.received == 4 << 20 && streamed.intact, "a TCP stream crosses the vWire whole: \(streamed)")

        client.signal(SIGTERM)
        #expect(await client.waitForExit() == 0)
        #expect(try await namespaces.exec("client", ["ip", "link", "show", "dev", "nsm-1"]).status != 0)
        #expect(
          await eventually(within: .seconds(5)) {
            let links = (try? await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output) ?? ""
            return !links.contains("nsm-")
          }
        )
      }
    }
  }
}

/// A simple vL3 (`nsm endpoint --vl3`): two clients of one endpoint reach each other through it,
/// and nothing the endpoint does not route.
@Suite("vL3 endpoint", .serialized, .enabled(if: TestNamespaces.available))
struct VL3Tests {
  @Test func twoClientsOfOneVL3EndpointPingEachOther() async throws {
    try await TestNamespaces.run(["node", "c1", "c2", "vl3"]) { namespaces in
      let roles = ["registry": "node", "apply": "node", "mgr-vl3": "node", "vl3": "vl3", "nsc-1": "c1", "nsc-2": "c2"]
      try await ConnectSandbox.run(launcher: { name in roles[name].map(namespaces.launcher) ?? [] }) { sandbox in
        try await sandbox.apply(MonitorAndErrorTests.services)
        let manager = try await sandbox.manager("mgr-vl3", node: "node-1", arguments: ["--dataplane", "kernel"])
        _ = try await sandbox.endpoint(
          "vl3",
          manager: manager,
          services: ["simple"],
          cidr: "10.132.0.0/24",
          arguments: ["--vl3"]
        )
        var first = ConnectionLines(try sandbox.client("nsc-1", manager: manager, services: ["kernel://simple/nsm-1"]))
        var second = ConnectionLines(try sandbox.client("nsc-2", manager: manager, services: ["kernel://simple/nsm-1"]))
        let one = try await first.next()
        let two = try await second.next()
        #expect(one.context.ipContext.srcRoutes.map(\.prefix).last == "10.132.0.0/24")
        let oneAddress = try #require(one.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
        let twoAddress = try #require(two.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
        let across = try await namespaces.exec("c1", ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(twoAddress)])
        #expect(across.status == 0, "\(across.output)")
        let back = try await namespaces.exec("c2", ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(oneAddress)])
        #expect(back.status == 0, "\(back.output)")
        // Outside the vL3's prefix there is no route.
        let outside = try await namespaces.exec("c1", ["ping", "-c", "1", "-W", "1", "10.133.0.1"])
        #expect(outside.status != 0)
      }
    }
  }
}

/// What a vWire leaves behind when its workload or its manager dies.
@Suite("vWire life cycle", .serialized, .enabled(if: TestNamespaces.available))
struct VWireLifeCycleTests {

  @Test func aKilledClientsVWireIsRemovedWithoutWaitingForExpiry() async throws {
    try await TestNamespaces.run(["node", "client", "endpoint"]) { namespaces in
      try await namespaces.withOneNode(manager: "mgr-kill", cidr: "10.134.0.0/24") { sandbox, manager in
        let client = try sandbox.client("nsc-1", manager: manager, services: ["kernel://simple/nsm-1"])
        var lines = ConnectionLines(client)
        _ = try await lines.next()
        #expect(try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output.contains("nsm-"))
        // Its token lives 10 minutes; its namespace's process is gone at once.
        client.signal(SIGKILL)
        #expect(
          await eventually(within: .seconds(10)) {
            let links = (try? await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output) ?? "nsm-"
            return !links.contains("nsm-")
          }
        )
        #expect(
          await eventually(within: .seconds(10)) {
            let listing = try? await NSMProcess.run([
              "get", "connections", "--manager", manager.socket.description, "-o", "json",
            ])
            return listing?.status == 0 && listing?.stdout.isEmpty == true
          }
        )
      }
    }
  }

  @Test func refreshesChangeNothingOnTheWire() async throws {
    try await TestNamespaces.run(["node", "client", "endpoint"]) { namespaces in
      try await namespaces.withOneNode(manager: "mgr-refresh", cidr: "10.144.0.0/24") { sandbox, manager in
        // 2 s tokens: several refreshes within the 5 s watched.
        let client = try sandbox.client(
          "nsc-1",
          manager: manager,
          services: ["kernel://simple/nsm-1"],
          arguments: ["--max-token-lifetime", "2s"]
        )
        var lines = ConnectionLines(client)
        let first = try await lines.next()
        let target = try #require(first.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
        func wire() async throws -> [String] {
          // Index, name and addresses of each end: a vWire made again would have new indexes.
          [
            try await namespaces.exec("client", ["ip", "-o", "address", "show", "dev", "nsm-1"]).output,
            try await namespaces.exec("endpoint", ["ip", "-o", "address", "show"]).output,
          ].map {
            $0.split(separator: "\n").filter { !$0.contains(" lo ") }.map {
              $0.split(separator: " ").prefix(4).joined(separator: " ")
            }.joined(separator: ";")
          }
        }
        let before = try await wire()
        let ping = Task {
          try await namespaces.exec("client", ["ping", "-i", "0.1", "-c", "50", "-W", "1", String(target)])
        }
        try await Task.sleep(for: .seconds(5))
        let after = try await wire()
        #expect(before == after, "the same interfaces and addresses")
        let output = try await ping.value.output
        #expect(output.contains(" 0% packet loss"), "no ping lost across the refreshes: \(output)")
        // The manager's view (its unix socket: its TCP address is inside the node's namespace).
        let listing = try await NSMProcess.run([
          "get", "connections", "--manager", manager.socket.description, "-o", "json",
        ])
        let held = try Connection_Connection(
          jsonString: try #require(listing.stdout.split(separator: "\n").first.map(String.init))
        )
        #expect(held.path.pathSegments[0].expires.date > first.path.pathSegments[0].expires.date, "refreshed")
      }
    }
  }

  @Test func aConnectionThatExpiresLeavesNoInterface() async throws {
    try await TestNamespaces.run(["node", "client", "endpoint"]) { namespaces in
      try await namespaces.withOneNode(manager: "mgr-expire", cidr: "10.143.0.0/24") { sandbox, manager in
        let client = try sandbox.client(
          "nsc-1",
          manager: manager,
          services: ["kernel://simple/nsm-1"],
          arguments: ["--max-token-lifetime", "2s"]
        )
        var lines = ConnectionLines(client)
        _ = try await lines.next()
        // Stopped, not killed: its namespace stays, so only the expiry of its 2 s token can
        // end the connection.
        client.signal(SIGSTOP)
        defer { client.signal(SIGKILL) }
        #expect(
          await eventually(within: .seconds(15)) {
            let atClient = try? await namespaces.exec("client", ["ip", "-o", "link", "show"]).output
            let atEndpoint = try? await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output
            return atClient.map { !$0.contains("nsm-") } == true && atEndpoint.map { !$0.contains("nsm-") } == true
          },
          "both ends are gone once the connection expired"
        )
      }
    }
  }

  @Test func aRestartedManagerRemovesWhatItsPreviousRunLeftAndTheClientGetsItsWireBack() async throws {
    try await TestNamespaces.run(["node", "client", "endpoint"]) { namespaces in
      try await namespaces.withOneNode(manager: "mgr-restart", cidr: "10.135.0.0/24") { sandbox, manager in
        let client = try sandbox.client("nsc-1", manager: manager, services: ["kernel://simple/nsm-1"])
        var lines = ConnectionLines(client)
        let first = try await lines.next()
        let endpointAddress = try #require(first.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
        manager.process.signal(SIGKILL)
        _ = await manager.process.waitForExit()
        let restarted = try await sandbox.manager(
          "mgr-restart",
          node: "node-1",
          port: manager.url,
          arguments: ["--dataplane", "kernel"]
        )
        #expect(await restarted.process.stderrLine(containing: "removed what a previous run left") != nil)
        // The client re-requests; its new vWire carries packets again, and the endpoint holds
        // only that one.
        #expect(
          await eventually(within: .seconds(20)) {
            let ping = try? await namespaces.exec("client", ["ping", "-c", "1", "-W", "1", String(endpointAddress)])
            return ping?.status == 0
          }
        )
        let endpointLinks = try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output
        #expect(endpointLinks.split(separator: "\n").filter { $0.contains("nsm-") }.count == 1, "\(endpointLinks)")
      }
    }
  }
}

/// A remote vWire's end in a namespace that outlives its workload (a pod's does; here an
/// `ip netns` one): the manager holds the namespace open, so it can still delete the end.
@Suite("A remote end outlives its workload", .serialized, .enabled(if: TestNamespaces.available))
struct HeldNamespaceTests {
  @Test func aKilledEndpointsTunnelEndIsRemovedFromItsSurvivingNamespace() async throws {
    try await TestNamespaces.run(["node1", "node2", "client", "endpoint"]) { namespaces in
      try await namespaces.withTwoNodes(
        managers: ("mgr-held1", "mgr-held2"),
        roles: ["nse-2": "endpoint", "nsc-1": "client"]
      ) { sandbox, manager1, manager2 in
        let endpoint = try await sandbox.endpoint(
          "nse-2",
          manager: manager2,
          services: ["simple"],
          cidr: "10.142.0.0/24"
        )
        var lines = ConnectionLines(try sandbox.client("nsc-1", manager: manager1, services: ["kernel://simple/nsm-1"]))
        _ = try await lines.next()
        #expect(try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output.contains(" nsm-"))
        // Its process is gone, its /proc path with it; the namespace stays (named under /run/netns).
        endpoint.signal(SIGKILL)
        _ = await endpoint.waitForExit()
        #expect(
          await eventually(within: .seconds(10)) {
            let links = (try? await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output) ?? " nsm-"
            return !links.contains(" nsm-")
          },
          "the endpoint's VXLAN end is deleted from the namespace that outlived it"
        )
      }
    }
  }
}

/// The vWire contract's multiplicity: one client with two vWires to one endpoint (the same
/// service twice), each its own pair of interfaces and addresses, each for one connection.
@Suite("Several vWires", .serialized, .enabled(if: TestNamespaces.available))
struct SeveralVWiresTests {
  @Test func theSameServiceTwiceGivesTwoSeparateVWires() async throws {
    try await TestNamespaces.run(["node", "client", "endpoint"]) { namespaces in
      let roles = ["registry": "node", "apply": "node", "mgr-twice": "node", "nse-1": "endpoint", "nsc-1": "client"]
      try await ConnectSandbox.run(launcher: { roles[$0].map(namespaces.launcher) ?? [] }) { sandbox in
        try await sandbox.apply(MonitorAndErrorTests.services)
        let manager = try await sandbox.manager("mgr-twice", node: "node-1", arguments: ["--dataplane", "kernel"])
        _ = try await sandbox.endpoint("nse-1", manager: manager, services: ["simple"], cidr: "10.137.0.0/24")
        let client = try sandbox.client(
          "nsc-1",
          manager: manager,
          services: ["kernel://simple/nsm-1", "kernel://simple/nsm-2"]
        )
        var lines = ConnectionLines(client)
        let first = try await lines.next()
        let second = try await lines.next()
        #expect(first.id != second.id)
        #expect(first.mechanism.parameters["name"] == "nsm-1")
        #expect(second.mechanism.parameters["name"] == "nsm-2")
        #expect(first.context.ipContext.srcIpAddrs != second.context.ipContext.srcIpAddrs)
        let endpointLinks = try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output
        #expect(endpointLinks.split(separator: "\n").filter { $0.contains("nsm-") }.count == 2, "\(endpointLinks)")
        for (interface, connection) in [("nsm-1", first), ("nsm-2", second)] {
          let target = try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
          // Each vWire reaches its own end at the endpoint, and leaves by its own interface.
          let ping = try await namespaces.exec(
            "client",
            ["ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", interface, String(target)]
          )
          #expect(ping.status == 0, "\(interface): \(ping.output)")
          let route = try await namespaces.exec("client", ["ip", "-o", "route", "get", String(target)])
          #expect(route.output.contains("dev \(interface)"), "\(route.output)")
        }
      }
    }
  }
}

/// Heal under traffic: the endpoint under a running ping is killed; the client is moved to
/// another endpoint of the same prefix, keeps its addresses, and the ping resumes.
@Suite("Heal under a running ping", .serialized, .enabled(if: TestNamespaces.available))
struct HealUnderPingTests {
  @Test func thePingResumesThroughTheNewEndpoint() async throws {
    try await TestNamespaces.run(["node", "client", "ep-a", "ep-b"]) { namespaces in
      let roles = [
        "registry": "node", "apply": "node", "mgr-heal": "node", "nse-a": "ep-a", "nse-b": "ep-b", "nsc-1": "client",
      ]
      try await ConnectSandbox.run(launcher: { roles[$0].map(namespaces.launcher) ?? [] }) { sandbox in
        try await sandbox.apply(MonitorAndErrorTests.services)
        let manager = try await sandbox.manager("mgr-heal", node: "node-1", arguments: ["--dataplane", "kernel"])
        // One prefix for both: the client keeps its addresses when it moves (the new endpoint
        // honours what the client still holds when it is free).
        let a = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.138.0.0/24")
        let b = try await sandbox.endpoint("nse-b", manager: manager, services: ["simple"], cidr: "10.138.0.0/24")
        let client = try sandbox.client("nsc-1", manager: manager, services: ["kernel://simple/nsm-1"])
        var lines = ConnectionLines(client)
        let first = try await lines.next()
        let target = try #require(first.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
        let victim = first.networkServiceEndpointName == "nse-a" ? a : b
        let other = first.networkServiceEndpointName == "nse-a" ? "nse-b" : "nse-a"

        // 120 pings 50 ms apart (6 s); the endpoint dies 1.5 s in.
        let ping = Task {
          try await namespaces.exec("client", ["ping", "-i", "0.05", "-c", "120", "-W", "1", String(target)])
        }
        try await Task.sleep(for: .milliseconds(1500))
        victim.signal(SIGKILL)
        let healed = try await lines.next(within: .seconds(10)) {
          $0.state == .up && $0.networkServiceEndpointName == other
        }
        #expect(healed.context.ipContext.srcIpAddrs == first.context.ipContext.srcIpAddrs, "the same addresses")
        #expect(healed.context.ipContext.dstIpAddrs == first.context.ipContext.dstIpAddrs)
        // The dead endpoint's namespace outlives it (an `ip netns` one) and holds no end.
        let victimRole = other == "nse-b" ? "ep-a" : "ep-b"
        #expect(
          await eventually(within: .seconds(5)) {
            let links = (try? await namespaces.exec(victimRole, ["ip", "-o", "link", "show"]).output) ?? "nsm-"
            return !links.contains("nsm-")
          }
        )
        let output = try await ping.value.output
        let replies = output.split(separator: "\n").compactMap { line -> Int? in
          guard line.contains("bytes from"), let range = line.range(of: "icmp_seq=") else { return nil }
          return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        let lost = 120 - replies.count
        print("heal under ping: \(lost) of 120 pings lost (50 ms apart)")
        // Replies before the kill and again at the end: the traffic moved to the new endpoint.
        #expect(replies.contains { $0 < 20 }, "\(output)")
        #expect(replies.contains { $0 > 100 }, "\(output)")
      }
    }
  }
}
