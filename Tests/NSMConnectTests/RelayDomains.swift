import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// The relay tests' two domains in namespaces: A's node, A's gateway, B's gateway and B's node
/// in a row (node ─ gateway ─ "wan" ─ gateway ─ node), the client, two endpoint namespaces and a
/// rogue host on the "wan" side of B's gateway; the gateways forward the control plane and let
/// VXLAN leave only from their own addresses (their relays); nsd in A's node publishes both domains; a
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
        ("gwa", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
        ("gwb", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]),
      ]
        // A veth underlay would hand the gateway TCP inside VXLAN with its checksum left for
        // the "hardware" to finish, which a relay in userspace cannot; a physical NIC finishes
        // it on the wire, as the kernel does with offload off. The kernel relay forwards such
        // packets (and 64 KB GSO ones) as they are.
        + (relay == "userspace"
          ? [("nodea", ["ethtool", "-K", "ia", "tx", "off"]), ("nodeb", ["ethtool", "-K", "ib", "tx", "off"])] : [])
      {
        let result = try await namespaces.exec(role, command)
        #expect(result.status == 0, "\(role) \(command): \(result.output)")
      }
      // The control plane may cross (registries and gateways talk gRPC); VXLAN leaves a gateway
      // only from the gateway's own addresses (its relay), never as the nodes sent it.
      for gateway in ["gwa", "gwb"] {
        let rule =
          "table inet t { chain f { type filter hook postrouting priority 100; udp dport 4789 fib saddr type != local drop; }; }"
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
