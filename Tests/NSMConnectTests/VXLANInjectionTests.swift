import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// The vWire contract's isolation over VXLAN: only packets that entered at the other end come
/// out at a workload. Crafted VXLAN packets are sent to the endpoint's node from the peer node
/// and from a host on the underlay that is not the peer, each with the vWire's VNI and with
/// another; the endpoint's namespace shows which arrive.
@Suite("Crafted VXLAN packets", .serialized, .enabled(if: TestNamespaces.available))
struct VXLANInjectionTests {
  @Test func onlyThePeerWithTheNegotiatedVNIReachesTheWorkload() async throws {
    try await TestNamespaces.run(["node1", "node2", "intruder", "client", "endpoint"]) { namespaces in
      // The intruder reaches node2 from 172.31.253.1 over a link of its own.
      try await namespaces.connect("intruder", "172.31.253.1/24", "node2", "172.31.253.2/24", name: "rogue")
      try await namespaces.exec("intruder", ["ip", "route", "add", "172.31.254.0/24", "via", "172.31.253.2"])
      try await namespaces.withTwoNodes(
        managers: ("mgr-inj1", "mgr-inj2"),
        roles: ["nse-2": "endpoint", "nsc-1": "client"]
      ) { sandbox, manager1, manager2 in
        _ = try await sandbox.endpoint("nse-2", manager: manager2, services: ["simple"], cidr: "10.141.0.0/24")
        var lines = ConnectionLines(try sandbox.client("nsc-1", manager: manager1, services: ["kernel://simple/nsm-1"]))
        let connection = try await lines.next()
        let clientAddress = String(
          try #require(connection.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
        )
        let endpointAddress = String(
          try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
        )
        // The endpoint's end: its name, MAC and VNI.
        let links = try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output
        let line = try #require(links.split(separator: "\n").first { $0.contains(" nsm-") })
        let interface = String(line.split(separator: " ")[1].dropLast().split(separator: "@")[0])
        let details = try await namespaces.exec("endpoint", ["ip", "-d", "link", "show", "dev", interface]).output
        let vni = try #require(
          details.split(separator: " ").firstIndex(of: "id").flatMap { UInt32(details.split(separator: " ")[$0 + 1]) }
        )
        let mac = CraftedVXLAN.mac(
          try await namespaces.exec("endpoint", ["cat", "/sys/class/net/\(interface)/address"]).output
        )
        #expect(mac.count == 6)

        let receiver = try NamespaceUDP(namespace: namespaces.path("endpoint"), bindTo: "0.0.0.0", port: 7777)
        let peer = try NamespaceUDP(namespace: namespaces.path("node1"), bindTo: "172.31.254.1")
        let intruder = try NamespaceUDP(namespace: namespaces.path("intruder"), bindTo: "172.31.253.1")
        for (sender, who) in [(peer, "peer"), (intruder, "intruder")] {
          for (id, which) in [(vni, "right-vni"), (vni + 1, "wrong-vni")] {
            let packet = CraftedVXLAN.packet(
              vni: id,
              destinationMAC: mac,
              from: clientAddress,
              to: endpointAddress,
              port: 7777,
              payload: Array("\(who) \(which)".utf8)
            )
            try sender.send(packet, to: "172.31.254.2", port: 4789)
          }
        }
        let arrived = await receiver.receiveAll(quiet: .seconds(1)).map { String(decoding: $0, as: UTF8.self) }
        #expect(arrived == ["peer right-vni"], "only the peer's packet with the vWire's VNI comes out")

        // The intruder's packet with the right VNI was dropped by the guard, and counted.
        let counter = try await namespaces.exec("node2", ["nft", "list", "counter", "inet", "nsm_mgr-inj2", "refused"])
        let fields = counter.output.split(whereSeparator: \.isWhitespace)
        let refused = fields.firstIndex(of: "packets").flatMap { Int(fields[$0 + 1]) }
        #expect(refused == 1, "\(counter.output)")

        // Closed: the guard forgets the tunnel (its VNI may go to another peer later).
        lines.process.signal(SIGTERM)
        #expect(await lines.process.waitForExit() == 0)
        #expect(
          await eventually(within: .seconds(5)) {
            let set = try? await namespaces.exec("node2", ["nft", "list", "set", "inet", "nsm_mgr-inj2", "peers4"])
            return set?.status == 0 && set?.output.contains("172.31.254.1") == false
          }
        )
      }
    }
  }
}
