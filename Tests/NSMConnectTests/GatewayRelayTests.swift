import Foundation
import NSMAPI
import NSMCore
import NSMSecurity
import NSMTesting
import Testing

/// A vWire across two domains whose packets pass only through the gateways: each domain's node
/// reaches its own gateway, the gateways reach each other over a "wan" link, and VXLAN leaves a
/// gateway only from the gateway's own addresses, so the managers cannot tunnel to each other
/// directly. Each manager's tunnel ends at its own gateway's relay, which splices it to
/// the other gateway's. Everything lives in namespaces the test makes.
@Suite("vWires across domains through the gateways' relays", .serialized, .enabled(if: TestNamespaces.available))
struct GatewayRelayTests {
  @Test(arguments: ["userspace", "kernel"])
  func aClientInAPingsAndStreamsToAnEndpointInBThroughBothRelays(relay: String) async throws {
    try await RelayDomains.run(relay: relay) { domains in
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      let (proxyA, proxyB, managerA, managerB) = (
        domains.proxyA!, domains.proxyB!, domains.managerA!, domains.managerB!
      )
      _ = try await sandbox.endpoint("nse-b", manager: managerB, services: ["simple"], cidr: "10.153.0.0/24")
      var lines = ConnectionLines(
        try sandbox.client("nsc-a", manager: managerA, services: ["kernel://simple@\(b)/nsm-1"])
      )
      let connection: Connection_Connection
      do {
        connection = try await lines.next()
      } catch {
        // The gateways' side of it: what they logged last.
        Issue.record(
          """
          gateway A: \(proxyA.stderrLog.suffix(15).joined(separator: "\n"))
          gateway B: \(proxyB.stderrLog.suffix(15).joined(separator: "\n"))
          """
        )
        throw error
      }
      #expect(connection.hops == ["nsc-a", "mgr-ra", "proxy-a", "proxy-b", "mgr-rb", "nse-b"])
      let clientAddress = String(
        try #require(connection.context.ipContext.srcIpAddrs.first?.split(separator: "/").first)
      )
      let endpointAddress = String(
        try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
      )

      // Each manager's tunnel ends at its own gateway.
      let clientEnd = try await namespaces.exec("client", ["ip", "-d", "link", "show", "dev", "nsm-1"]).output
      #expect(clientEnd.contains("remote 10.200.1.2"), "\(clientEnd)")
      let endpointLinks = try await namespaces.exec("endpoint", ["ip", "-d", "-o", "link", "show"]).output
      #expect(endpointLinks.contains("remote 10.200.2.1"), "\(endpointLinks)")

      let there = try await namespaces.exec("client", ["ping", "-c", "3", "-i", "0.2", "-W", "2", endpointAddress])
      #expect(there.status == 0, "\(there.output)")
      let back = try await namespaces.exec("endpoint", ["ping", "-c", "3", "-i", "0.2", "-W", "2", clientAddress])
      #expect(back.status == 0, "\(back.output)")
      let streamed = try await namespaces.tcpStream(from: "client", to: "endpoint", address: endpointAddress)
      #expect(streamed.received == 4 << 20 && streamed.intact, "\(streamed)")
      try await Self.onlyThePeerGatewayGetsIn(
        namespaces,
        endpointAddress: endpointAddress,
        clientAddress: clientAddress
      )
      if relay == "kernel" {
        // Each gateway holds the splice as two entries of its relay's map (one per direction:
        // its end, the peer, the port, the VNI), and counted what it relayed; B's gateway
        // counted the two crafted packets above it dropped (a VNI not negotiated, a host that is
        // not the peer).
        for (gateway, inside, outside) in [
          ("a", "10.200.1.2 . 10.200.1.1 . 4789", "198.18.0.1 . 198.18.0.2 . 4789"),
          ("b", "10.200.2.1 . 10.200.2.2 . 4789", "198.18.0.2 . 198.18.0.1 . 4789"),
        ] {
          let legs = try await Self.kernelRelayLegs(namespaces, gateway: gateway)
          #expect(legs.contains(inside) && legs.contains(outside), "\(legs)")
          #expect(try await Self.kernelRelayPackets(namespaces, gateway: gateway, counter: "relayed") > 0)
        }
        #expect(try await Self.kernelRelayPackets(namespaces, gateway: "b", counter: "refused") >= 2)
      }

      lines.process.signal(SIGTERM)
      #expect(await lines.process.waitForExit() == 0)
      #expect(try await namespaces.exec("client", ["ip", "link", "show", "dev", "nsm-1"]).status != 0)
      #expect(
        await eventually(within: .seconds(5)) {
          let links = (try? await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output) ?? "nsm-"
          return !links.contains("nsm-")
        }
      )
      // Nothing of the splice is left at either gateway.
      if relay == "kernel" {
        for gateway in ["a", "b"] {
          let legs = try await Self.kernelRelayLegs(namespaces, gateway: gateway)
          #expect(!legs.contains("elements"), "\(legs)")
        }
      }
    }
  }

  /// `--map-ip-file`: gateway A's relay has only a private address, which B cannot route to;
  /// A's NAT translates its public one. Told the public address through A's map, gateway B
  /// sends there, and the ping goes through the translation both ways.
  @Test func aGatewayBehindNATIsToldToThePeerByItsPublicAddress() async throws {
    try await RelayDomains.run(relay: "userspace", natA: true) { domains in
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      _ = try await sandbox.endpoint("nse-b", manager: domains.managerB!, services: ["simple"], cidr: "10.153.0.0/24")
      var lines = ConnectionLines(
        try sandbox.client("nsc-a", manager: domains.managerA!, services: ["kernel://simple@\(b)/nsm-1"])
      )
      let connection = try await lines.next()
      let endpointAddress = String(
        try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first)
      )
      let unroutable = try await namespaces.exec("gwb", ["ip", "route", "get", RelayDomains.privateOutsideA])
      #expect(unroutable.status != 0, "B has no route to A's private address: \(unroutable.output)")
      let there = try await namespaces.exec("client", ["ping", "-c", "3", "-i", "0.2", "-W", "2", endpointAddress])
      #expect(there.status == 0, "\(there.output)")
      // The relay's flow went through the translation (a NAT rule counts only the packet that
      // opens a flow; the rest follow its conntrack entry, both ways).
      let rules = try await namespaces.exec("gwa", ["nft", "list", "table", "ip", "nat"]).output
      let counted = rules.split(separator: "\n").filter { $0.contains("counter packets") && !$0.contains("packets 0 ") }
      #expect(!counted.isEmpty, "\(rules)")
      lines.process.signal(SIGTERM)
      #expect(await lines.process.waitForExit() == 0)
    }
  }

  /// The same vWire with every process on mTLS, one trust domain per domain (`nsm.a`, `nsm.b`),
  /// and each gateway enforcing its domain's policy: the path's six tokens span both trust
  /// domains and the ping crosses both relays.
  @Test func aPingCrossesBothRelaysBetweenTwoTrustDomainsOverMTLS() async throws {
    let folder = "/tmp/nsm-rtls-" + String(UUID().uuidString.prefix(8)).lowercased()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var command = ["cert", "--out", folder]
    for name in ["registry", "mgr-ra", "proxy-a", "nsc-a"] { command += ["--svid", "spiffe://nsm.a/\(name)"] }
    for name in ["registry-b", "apply-b", "mgr-rb", "proxy-b", "nse-b"] {
      command += ["--svid", "spiffe://nsm.b/\(name)"]
    }
    let issued = try await NSMProcess.run(command)
    #expect(issued.status == 0, "\(issued.stderr)")
    let (policyA, policyB) = ("\(folder)/policy-a.yaml", "\(folder)/policy-b.yaml")
    try """
    gateway:
      outbound: [{identities: ["spiffe://nsm.a/*"], services: ["*@b.relay.nsm.test"]}]
    """.write(toFile: policyA, atomically: true, encoding: .utf8)
    try """
    domains:
      b.relay.nsm.test:
        - {identities: ["spiffe://nsm.b/*"], operations: [find, register, unregister]}
        - {identities: ["spiffe://nsm.a/*"], operations: [find]}
    accept_forwarded_from: ["spiffe://nsm.a/registry"]
    gateway:
      accept_from: ["spiffe://nsm.a/proxy-a"]
      inbound: [{identities: ["spiffe://nsm.a/*"], services: [simple]}]
    """.write(toFile: policyB, atomically: true, encoding: .utf8)
    try await RelayDomains.run(
      relay: "userspace",
      certificates: folder,
      policies: ["proxy-a": policyA, "registry-b": policyB, "proxy-b": policyB]
    ) { domains in
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      _ = try await sandbox.endpoint("nse-b", manager: domains.managerB!, services: ["simple"], cidr: "10.164.0.0/24")
      var lines = ConnectionLines(
        try sandbox.client("nsc-a", manager: domains.managerA!, services: ["kernel://simple@\(b)/nsm-1"])
      )
      let connection = try await lines.next()
      let subjects = try connection.path.pathSegments.map { try PathToken(decoding: $0.token).claims.sub }
      #expect(
        subjects == [
          "spiffe://nsm.a/nsc-a", "spiffe://nsm.a/mgr-ra", "spiffe://nsm.a/proxy-a", "spiffe://nsm.b/proxy-b",
          "spiffe://nsm.b/mgr-rb", "spiffe://nsm.b/nse-b",
        ]
      )
      let target = String(try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first))
      let there = try await namespaces.exec("client", ["ping", "-c", "3", "-i", "0.2", "-W", "2", target])
      #expect(there.status == 0, "\(there.output)")
      lines.process.signal(SIGTERM)
      #expect(await lines.process.waitForExit() == 0)
    }
  }

  /// The legs map of gateway `gateway`'s kernel relay, as nft lists it.
  static func kernelRelayLegs(_ namespaces: TestNamespaces, gateway: String) async throws -> String {
    let listed = try await namespaces.exec(
      "gw\(gateway)",
      ["nft", "list", "map", "inet", "nsmr_proxy-\(gateway)", "legs"]
    )
    #expect(listed.status == 0, "\(listed.output)")
    return listed.output
  }

  /// The packets gateway `gateway`'s kernel relay counted under `counter`.
  static func kernelRelayPackets(_ namespaces: TestNamespaces, gateway: String, counter: String) async throws -> Int {
    let listed = try await namespaces.exec(
      "gw\(gateway)",
      ["nft", "list", "counter", "inet", "nsmr_proxy-\(gateway)", counter]
    ).output
    let fields = listed.split(whereSeparator: \.isWhitespace)
    let index = try #require(fields.firstIndex(of: "packets"), "\(listed)")
    return try #require(fields.dropFirst(index + 1).first.flatMap { Int($0) }, "\(listed)")
  }

  /// Crafted VXLAN packets sent to B's gateway's outside address, each carrying a UDP datagram
  /// for the endpoint: from A's gateway (the negotiated peer) with the vWire's outside VNI (it
  /// arrives: the craft is right), with another VNI, and from a host that is not the peer with
  /// the right VNI (neither arrives).
  static func onlyThePeerGatewayGetsIn(
    _ namespaces: TestNamespaces,
    endpointAddress: String,
    clientAddress: String
  ) async throws {
    // The outside VNI: B's gateway answered A's with it (its view of the connection).
    let held = try await namespaces.exec(
      "gwb",
      [
        NSMProcess.executable.path, "get", "connections", "--insecure", "--manager", "tcp://127.0.0.1:5004", "-o",
        "json",
      ]
    )
    let atGateway = try Connection_Connection(
      jsonString: try #require(held.output.split(separator: "\n").first { $0.hasPrefix("{") }.map(String.init))
    )
    let vni = try #require(atGateway.mechanism.parameters["vni"].flatMap(UInt32.init), "\(atGateway.mechanism)")
    let links = try await namespaces.exec("endpoint", ["ip", "-o", "link", "show"]).output
    let line = try #require(links.split(separator: "\n").first { $0.contains(" nsm-") })
    let interface = String(line.split(separator: " ")[1].dropLast().split(separator: "@")[0])
    let mac = CraftedVXLAN.mac(
      try await namespaces.exec("endpoint", ["cat", "/sys/class/net/\(interface)/address"]).output
    )

    let receiver = try NamespaceUDP(namespace: namespaces.path("endpoint"), bindTo: "0.0.0.0", port: 7777)
    let peer = try NamespaceUDP(namespace: namespaces.path("gwa"), bindTo: "198.18.0.1")
    let rogue = try NamespaceUDP(namespace: namespaces.path("rogue"), bindTo: "198.18.1.1")
    for (sender, who, id) in [
      (peer, "peer right-vni", vni), (peer, "peer wrong-vni", vni &+ 1), (rogue, "rogue right-vni", vni),
    ] {
      let packet = CraftedVXLAN.packet(
        vni: id,
        destinationMAC: mac,
        from: clientAddress,
        to: endpointAddress,
        port: 7777,
        payload: Array(who.utf8)
      )
      try sender.send(packet, to: "198.18.0.2", port: 4789)
    }
    let arrived = await receiver.receiveAll(quiet: .seconds(1)).map { String(decoding: $0, as: UTF8.self) }
    #expect(arrived == ["peer right-vni"], "only the peer gateway's packet with the vWire's VNI comes out")
  }
}
