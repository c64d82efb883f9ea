import Foundation
import NSMAPI
import NSMCore
import NSMSecurity
import NSMTesting
import Testing

/// A vWire across two domains whose packets pass only through the gateways: each domain's node
/// reaches its own gateway, the gateways reach each other over a "wan" link, and the gateways
/// drop any VXLAN they would forward between the domains, so the managers cannot tunnel to each
/// other directly. Each manager's tunnel ends at its own gateway's relay, which splices it to
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
        // Each gateway holds the splice as two VXLAN links joined by a bridge.
        for gateway in ["gwa", "gwb"] {
          let links = try await namespaces.exec(gateway, ["ip", "-o", "link", "show"]).output
          #expect(links.contains("nsmgi") && links.contains("nsmgo") && links.contains("nsmgb"), "\(links)")
        }
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
      for gateway in ["gwa", "gwb"] {
        let links = try await namespaces.exec(gateway, ["ip", "-o", "link", "show"]).output
        #expect(!links.contains("nsmg"), "\(links)")
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
      let unroutable = try await namespaces.exec("gwb", ["ip", "route", "get", Self.privateOutsideA])
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

  static let privateOutsideA = RelayDomains.privateOutsideA

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

  /// Heal across the gateways under a running ping: A's gateway is killed with SIGKILL and
  /// started again, later the endpoint in B that the client reaches; each time the client's
  /// connection comes back (through the new gateway, then to the other endpoint in B) and the
  /// ping resumes.
  @Test(arguments: ["userspace", "kernel"])
  func thePingResumesAfterTheGatewayAndTheEndpointDie(relay: String) async throws {
    try await RelayDomains.run(relay: relay) { domains in
      var domains = domains
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      let first = try await sandbox.endpoint(
        "nse-b",
        manager: domains.managerB,
        services: ["simple"],
        cidr: "10.156.0.0/24"
      )
      let second = try await sandbox.endpoint(
        "nse-b2",
        manager: domains.managerB,
        services: ["simple"],
        cidr: "10.156.0.0/24"
      )
      var lines = ConnectionLines(
        try sandbox.client("nsc-a", manager: domains.managerA, services: ["kernel://simple@\(b)/nsm-1"])
      )
      let connection = try await lines.next()
      let target = String(try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first))
      // 200 pings 50 ms apart (10 s).
      let ping = Task {
        try await namespaces.exec("client", ["ping", "-i", "0.05", "-c", "200", "-W", "1", target])
      }
      try await Task.sleep(for: .milliseconds(1500))
      domains.proxyA.signal(SIGKILL)
      _ = await domains.proxyA.waitForExit()
      domains.proxyA = try await domains.startGateway("a")
      try await Task.sleep(for: .milliseconds(3000))
      let victim = connection.networkServiceEndpointName.hasPrefix("nse-b2") ? second : first
      let survivor = connection.networkServiceEndpointName.hasPrefix("nse-b2") ? "nse-b" : "nse-b2"
      victim.signal(SIGKILL)
      let healed = try await lines.next(within: .seconds(10)) {
        $0.state == .up && $0.networkServiceEndpointName == "\(survivor)@\(b)"
      }
      #expect(healed.hops == ["nsc-a", "mgr-ra", "proxy-a", "proxy-b", "mgr-rb", survivor])
      let output = try await ping.value.output
      let replies = output.split(separator: "\n").compactMap { line -> Int? in
        guard line.contains("bytes from"), let range = line.range(of: "icmp_seq=") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
      }
      print("heal across gateways (\(relay) relay): \(200 - replies.count) of 200 pings lost (50 ms apart)")
      #expect(replies.contains { $0 < 25 }, "\(output)")
      #expect(replies.contains { $0 > 180 }, "the ping resumed through the new gateway and endpoint: \(output)")
    }
  }

  /// Heal of the other components under a running ping (upstream's interdomain heal suite):
  /// B's gateway, B's manager and A's manager are each killed with SIGKILL and started again
  /// at their address, a few seconds apart; the client is never restarted, and the ping
  /// resumes after each.
  @Test func thePingResumesAfterGatewayBAndBothManagersDie() async throws {
    try await RelayDomains.run(relay: "userspace") { domains in
      var domains = domains
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      _ = try await sandbox.endpoint("nse-b", manager: domains.managerB, services: ["simple"], cidr: "10.157.0.0/24")
      var lines = ConnectionLines(
        try sandbox.client("nsc-a", manager: domains.managerA, services: ["kernel://simple@\(b)/nsm-1"])
      )
      let connection = try await lines.next()
      let target = String(try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first))
      // 500 pings 50 ms apart (25 s); a kill at t is near sequence number t / 50 ms.
      let started = ContinuousClock.now
      let ping = Task {
        try await namespaces.exec("client", ["ping", "-i", "0.05", "-c", "500", "-W", "1", target])
      }
      var kills: [(String, Int)] = []
      func sequence() -> Int { Int((ContinuousClock.now - started) / .milliseconds(50)) }
      try await Task.sleep(for: .seconds(2))
      kills.append(("gateway B", sequence()))
      domains.proxyB.signal(SIGKILL)
      _ = await domains.proxyB.waitForExit()
      domains.proxyB = try await domains.startGateway("b")
      try await Task.sleep(for: .seconds(5))

      kills.append(("manager B", sequence()))
      domains.managerB.process.signal(SIGKILL)
      _ = await domains.managerB.process.waitForExit()
      domains.managerB = try await domains.startManager("b", port: domains.managerB.url)
      try await Task.sleep(for: .seconds(6))

      kills.append(("manager A", sequence()))
      domains.managerA.process.signal(SIGKILL)
      _ = await domains.managerA.process.waitForExit()
      domains.managerA = try await domains.startManager("a", port: domains.managerA.url)

      let output = try await ping.value.output
      let replies = output.split(separator: "\n").compactMap { line -> Int? in
        guard line.contains("bytes from"), let range = line.range(of: "icmp_seq=") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
      }
      print("heal across gateways (gateway B, manager B, manager A): \(500 - replies.count) of 500 pings lost")
      #expect(replies.contains { $0 < kills[0].1 }, "\(output)")
      // After each kill the ping comes back before the next one.
      for (index, (victim, at)) in kills.enumerated() {
        let until = index + 1 < kills.count ? kills[index + 1].1 : 500
        #expect(replies.contains { $0 > at && $0 < until }, "no reply after \(victim) died (seq \(at)): \(output)")
      }
      #expect(lines.process.process.isRunning, "the client was never restarted")
    }
  }

  /// B's registry (on PostgreSQL) killed with SIGKILL under a running ping and started again:
  /// the vWire never needed it (its route is held at every hop) and keeps refreshing through
  /// the outage; once it is back, a second client in A connects through it (the network
  /// service and the endpoint were not forgotten).
  @Test func thePingOutlivesBsRegistryAndANewClientConnectsOnceItIsBack() async throws {
    let postgres = try await TestPostgres.sharedServer()
    let store = try postgres.throughSocket(try await postgres.makeDatabase())
    try await RelayDomains.run(relay: "userspace", storeB: store) { domains in
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      _ = try await sandbox.endpoint("nse-b", manager: domains.managerB, services: ["simple"], cidr: "10.158.0.0/24")
      var lines = ConnectionLines(
        try sandbox.client(
          "nsc-a",
          manager: domains.managerA,
          services: ["kernel://simple@\(b)/nsm-1"],
          arguments: ["--max-token-lifetime", "3s"]
        )
      )
      let connection = try await lines.next()
      let target = String(try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first))
      // 200 pings 50 ms apart (10 s), across two token lifetimes of the outage.
      let ping = Task {
        try await namespaces.exec("client", ["ping", "-i", "0.05", "-c", "200", "-W", "1", target])
      }
      try await Task.sleep(for: .seconds(1))
      let registry = try #require(sandbox.process(named: "registry-b"))
      registry.signal(SIGKILL)
      _ = await registry.waitForExit()
      try await Task.sleep(for: .seconds(6))
      let again = try await sandbox.registry(
        "registry-b",
        arguments: RelayDomains.registryBArguments(b: b, dns: domains.dns, store: store)
      )
      #expect(again == domains.registryB)

      let output = try await ping.value.output
      let replies = output.split(separator: "\n").filter { $0.contains("bytes from") }.count
      print("B's registry killed for 6 s under a ping: \(200 - replies) of 200 pings lost")
      #expect(replies >= 195, "\(output)")
      #expect(lines.process.process.isRunning)

      var second = ConnectionLines(
        try sandbox.client("nsc-a2", manager: domains.managerA, services: ["kernel://simple@\(b)/nsm-2"])
      )
      #expect(try await second.next().hops == ["nsc-a2", "mgr-ra", "proxy-a", "proxy-b", "mgr-rb", "nse-b"])
    }
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

/// The relay tests' two domains in namespaces: A's node, A's gateway, B's gateway and B's node
/// in a row (node ─ gateway ─ "wan" ─ gateway ─ node), the client, two endpoint namespaces and a
/// rogue host on the "wan" side of B's gateway; the gateways forward the control plane and drop
/// any VXLAN they would forward between the domains; nsd in A's node publishes both domains; a
/// registry and a manager with a data plane per domain, gateways with relays.
struct RelayDomains {
  let namespaces: TestNamespaces
  let sandbox: ConnectSandbox
  let b: String
  let dns: String
  let relay: String
  let registryB: ServiceAddress
  /// With NAT at A: gateway A's relay has a private outside address, and its map file.
  let mapFileA: String?
  var proxyA: NSMProcess.Running!
  var proxyB: NSMProcess.Running!
  var managerA: ConnectSandbox.Manager!
  var managerB: ConnectSandbox.Manager!

  /// Gateway A's private outside address when `natA`; B reaches it only as 198.18.0.1.
  static let privateOutsideA = "172.31.0.1"

  /// `storeB`: B's registry keeps its records there (`--store`), e.g. PostgreSQL through its
  /// unix socket, so it can be killed and started again without forgetting them.
  /// `certificates`: a folder of `nsm cert` SVIDs; every process then runs with mTLS as
  /// `spiffe://nsm.a/NAME` or, for B's, `spiffe://nsm.b/NAME`, and `policies` (by process name)
  /// are their `--policy` files.
  static func run(
    relay: String,
    natA: Bool = false,
    storeB: String? = nil,
    certificates: String? = nil,
    policies: [String: String] = [:],
    _ body: (RelayDomains) async throws -> Void
  ) async throws {
    let identity: @Sendable (String) -> [String] = { name in
      let trustDomain =
        ["registry-b", "apply-b", "mgr-rb", "proxy-b", "admin-b"].contains(name)
          || name.hasPrefix("nse-b") ? "nsm.b" : "nsm.a"
      return (certificates.map { ["--tls-dir", "\($0)/\(trustDomain)/\(name)"] } ?? [])
        + (policies[name].map { ["--policy", $0] } ?? [])
    }
    let a = "a.relay.nsm.test"
    let b = "b.relay.nsm.test"
    try await TestNamespaces.run(["nodea", "gwa", "gwb", "nodeb", "client", "endpoint", "endpoint2", "rogue"]) {
      namespaces in
      // nodea 10.200.1.1 ─ 10.200.1.2 gwa 198.18.0.1 ─ 198.18.0.2 gwb 10.200.2.1 ─ 10.200.2.2 nodeb
      try await namespaces.connect("nodea", "10.200.1.1/24", "gwa", "10.200.1.2/24", name: "ia")
      try await namespaces.connect("gwa", "198.18.0.1/24", "gwb", "198.18.0.2/24", name: "wan")
      try await namespaces.connect("gwb", "10.200.2.1/24", "nodeb", "10.200.2.2/24", name: "ib")
      // A host on the "internet" that is not the other gateway.
      try await namespaces.connect("rogue", "198.18.1.1/24", "gwb", "198.18.1.2/24", name: "rg")
      for (role, command) in [
        ("nodea", ["ip", "route", "add", "default", "via", "10.200.1.2"]),
        ("nodeb", ["ip", "route", "add", "default", "via", "10.200.2.1"]),
        ("gwa", ["ip", "route", "add", "10.200.2.0/24", "via", "198.18.0.2"]),
        ("gwb", ["ip", "route", "add", "10.200.1.0/24", "via", "198.18.0.1"]),
        ("rogue", ["ip", "route", "add", "198.18.0.0/24", "via", "198.18.1.2"]),
        // A veth underlay would hand the gateway TCP inside VXLAN with its checksum left for
        // the "hardware" to finish, which a relay in userspace cannot; a physical NIC finishes
        // it on the wire, as the kernel does with offload off.
        ("nodea", ["ethtool", "-K", "ia", "tx", "off"]),
        ("nodeb", ["ethtool", "-K", "ib", "tx", "off"]),
        ("gwa", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
        ("gwb", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
      ] {
        let result = try await namespaces.exec(role, command)
        #expect(result.status == 0, "\(role) \(command): \(result.output)")
      }
      // The control plane may cross (registries and gateways talk gRPC); VXLAN may not.
      for gateway in ["gwa", "gwb"] {
        let rule = "table inet t { chain f { type filter hook forward priority 0; udp dport 4789 drop; }; }"
        let result = try await namespaces.exec(gateway, ["nft", rule])
        #expect(result.status == 0, "\(result.output)")
      }

      var mapFileA: String?
      if natA {
        // Gateway A's relay sits on a private address; its public one is translated to it
        // (as a cloud load balancer or a home router would), and only its map file says so.
        let nat = """
          table ip nat {
            chain pre { type nat hook prerouting priority -100; ip daddr 198.18.0.1 meta l4proto udp counter dnat to \(privateOutsideA); }
            chain post { type nat hook postrouting priority 100; ip saddr \(privateOutsideA) counter snat to 198.18.0.1; }
          }
          """
        for command in [["ip", "addr", "add", "\(privateOutsideA)/32", "dev", "lo"], ["nft", nat]] {
          let result = try await namespaces.exec("gwa", command)
          #expect(result.status == 0, "\(command): \(result.output)")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("map-ip-\(UUID().uuidString).yaml")
          .path
        try "\(privateOutsideA): 198.18.0.1\n".write(toFile: path, atomically: true, encoding: .utf8)
        mapFileA = path
      }
      defer { if let mapFileA { try? FileManager.default.removeItem(atPath: mapFileA) } }

      let nsd = try await TestNSD.start(
        zones: [
          a: TestDomains.zoneHeader(a)
            + (try ZoneRecords.lines(
              domain: a,
              registry: .init(parsing: "10.200.1.1:5002"),
              proxy: .init(parsing: "198.18.0.1:5004"),
              ttl: 5
            )).joined(separator: "\n") + "\n",
          b: TestDomains.zoneHeader(b)
            + (try ZoneRecords.lines(
              domain: b,
              registry: .init(parsing: "10.200.2.2:5002"),
              proxy: .init(parsing: "198.18.0.2:5004"),
              ttl: 5
            )).joined(separator: "\n") + "\n",
        ],
        address: "10.200.1.1",
        launcher: namespaces.launcher("nodea")
      )
      let dns = nsd.server.description
      let roles = [
        "registry": "nodea", "mgr-ra": "nodea", "registry-b": "nodeb", "mgr-rb": "nodeb", "proxy-a": "gwa",
        "proxy-b": "gwb", "nse-b": "endpoint", "nse-b2": "endpoint2", "nsc-a": "client",
      ]
      try await ConnectSandbox.run(
        registryArguments: ["--domain", a, "--listen", "tcp://10.200.1.1:5002", "--dns-server", dns],
        commonArguments: identity,
        launcher: { roles[$0].map(namespaces.launcher) ?? [] },
        registryHost: "10.200.1.1"
      ) { sandbox in
        let registryB = try await sandbox.registry(
          "registry-b",
          arguments: Self.registryBArguments(b: b, dns: dns, store: storeB)
        )
        let applying = try NSMProcess.Running(
          ["apply", "-f", "-", "--registry", registryB.description] + identity("apply-b"),
          stdin: InterdomainTests.serviceDocument,
          launcher: namespaces.launcher("nodeb")
        )
        let applied = await applying.wait()
        #expect(applied.status == 0, "\(applied.stderr)")
        var domains = RelayDomains(
          namespaces: namespaces,
          sandbox: sandbox,
          b: b,
          dns: dns,
          relay: relay,
          registryB: registryB,
          mapFileA: mapFileA,
          proxyA: nil,
          proxyB: nil,
          managerA: nil,
          managerB: nil
        )
        domains.proxyA = try await domains.startGateway("a")
        domains.proxyB = try await domains.startGateway("b")
        domains.managerA = try await domains.startManager("a")
        domains.managerB = try await domains.startManager("b")
        try await body(domains)
      }
      nsd.stop()
    }
  }

  static func registryBArguments(b: String, dns: String, store: String?) -> [String] {
    ["--domain", b, "--listen", "tcp://10.200.2.2:5002", "--dns-server", dns] + (store.map { ["--store", $0] } ?? [])
  }

  /// The manager of domain A's node (`"a"`) or B's; `port`: the URL of one to start again.
  func startManager(_ domain: String, port: ServiceAddress? = nil) async throws -> ConnectSandbox.Manager {
    domain == "a"
      ? try await sandbox.manager(
        "mgr-ra",
        node: "node-a",
        port: port,
        host: "10.200.1.1",
        arguments: ["--dataplane", "kernel", "--proxy-url", "tcp://10.200.1.2:5004"]
      )
      : try await sandbox.manager(
        "mgr-rb",
        node: "node-b",
        port: port,
        host: "10.200.2.2",
        registry: registryB,
        arguments: ["--dataplane", "kernel"]
      )
  }

  /// The gateway of domain A (`"a"`) or B, with its relay.
  func startGateway(_ domain: String) async throws -> NSMProcess.Running {
    let (name, domainName, registry, inside, outside) =
      domain == "a"
      ? (
        "proxy-a", "a.relay.nsm.test", sandbox.registry, "10.200.1.2",
        mapFileA == nil ? "198.18.0.1" : Self.privateOutsideA
      )
      : ("proxy-b", b, registryB, "10.200.2.1", "198.18.0.2")
    let map = domain == "a" ? mapFileA.map { ["--map-ip-file", $0] } ?? [] : []
    return try await sandbox.proxy(
      name,
      domain: domainName,
      registry: registry,
      listen: "tcp://0.0.0.0:5004",
      arguments: ["--dns-server", dns, "--inside-tunnel", inside, "--outside-tunnel", outside, "--relay", relay] + map
    )
  }
}
