import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// The seed's selective composition with a data plane: `foo` at v1.1 reaches the vL3 through
/// the IPS middle box, whose namespace its packets really cross (the IPS's interface counters
/// show them), while another client's packets go straight to the vL3 and never touch the IPS.
@Suite("Composition carries packets through the middle box", .serialized, .enabled(if: TestNamespaces.available))
struct CompositionVWireTests {
  @Test func fooV11sPacketsCrossTheIPSAndOtherClientsDoNot() async throws {
    try await TestNamespaces.run(["node", "foo", "other", "ips", "vl3"]) { namespaces in
      let roles = [
        "registry": "node", "apply": "node", "mgr-compose": "node", "vl3": "vl3", "ips": "ips", "foo-v11": "foo",
        "other": "other",
      ]
      try await ConnectSandbox.run(
        registryArguments: ["--domain", "sales.example.com"],
        launcher: { roles[$0].map(namespaces.launcher) ?? [] }
      ) { sandbox in
        try await sandbox.applyExample("selective-composition.yaml")
        let service = "secure-vl3@sales.example.com"
        let manager = try await sandbox.manager("mgr-compose", node: "node-1", arguments: ["--dataplane", "kernel"])
        _ = try await sandbox.endpoint(
          "vl3",
          manager: manager,
          services: [service],
          labels: ["provides": "vl3"],
          cidr: "10.139.0.0/24",
          arguments: ["--vl3"]
        )
        _ = try await sandbox.endpoint(
          "ips",
          manager: manager,
          services: [service],
          labels: ["provides": "ips"],
          cidr: "10.140.0.0/24",
          arguments: ["--passthrough", service, "--next-labels", "provided=ips", "--dataplane", "kernel"]
        )
        var fooLines = ConnectionLines(
          try sandbox.client(
            "foo-v11",
            manager: manager,
            services: [service],
            labels: ["app": "foo", "version": "v1.1"]
          )
        )
        var otherLines = ConnectionLines(try sandbox.client("other", manager: manager, services: [service]))
        let foo = try await fooLines.next()
        let other = try await otherLines.next()
        #expect(foo.hops == ["foo-v11", "mgr-compose", "ips", "mgr-compose", "vl3"])
        #expect(other.hops == ["other", "mgr-compose", "vl3"])
        // A bump in the wire: the vL3 addresses foo, not the IPS.
        let fooAddress = try #require(foo.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
        let otherAddress = try #require(other.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
        let vl3Address = try #require(foo.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
        #expect(fooAddress.hasPrefix("10.139.0."), "\(foo.context.ipContext)")

        // The IPS joins its two ends once its manager has made them.
        #expect(
          await eventually(within: .seconds(10)) {
            let bridges = try? await namespaces.exec("ips", ["ip", "-o", "link", "show", "type", "bridge"])
            return bridges?.output.contains("nsmbr") == true
          }
        )
        func ipsReceived() async throws -> Int {
          // The IPS's end of foo's vWire (`nsm-` and hex digits; its own outgoing end is `nsm-out-…`).
          let read = try await namespaces.exec(
            "ips",
            ["sh", "-c", "cat /sys/class/net/nsm-[0-9a-f]*/statistics/rx_packets"]
          )
          return read.output.split(separator: "\n").compactMap { Int($0) }.reduce(0, +)
        }

        let beforeFoo = try await ipsReceived()
        let fromFoo = try await namespaces.exec(
          "foo",
          ["ping", "-c", "20", "-i", "0.05", "-W", "2", String(vl3Address)]
        )
        #expect(fromFoo.status == 0, "\(fromFoo.output)")
        let afterFoo = try await ipsReceived()
        #expect(afterFoo - beforeFoo >= 20, "foo's 20 echo requests entered the IPS: \(beforeFoo) → \(afterFoo)")

        let fromOther = try await namespaces.exec(
          "other",
          ["ping", "-c", "20", "-i", "0.05", "-W", "2", String(vl3Address)]
        )
        #expect(fromOther.status == 0, "\(fromOther.output)")
        let afterOther = try await ipsReceived()
        #expect(afterOther - afterFoo < 20, "the other client's pings never cross the IPS: \(afterFoo) → \(afterOther)")

        // Both ways and across the vL3: the vL3 reaches foo through the IPS, foo reaches the
        // other client through IPS and vL3.
        let toFoo = try await namespaces.exec("vl3", ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(fooAddress)])
        #expect(toFoo.status == 0, "\(toFoo.output)")
        let across = try await namespaces.exec(
          "foo",
          ["ping", "-c", "3", "-i", "0.2", "-W", "2", String(otherAddress)]
        )
        #expect(across.status == 0, "\(across.output)")
      }
    }
  }
}
