import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// Connections across domains through their gateways (`nsm proxy`): a client in domain A asks
/// for `simple@B`; its manager sends the connection to A's gateway, which finds B's gateway in
/// DNS; B's gateway takes `@B` off the names and hands the connection to the manager B's
/// registry names for the endpoint. Each domain has its own registry; nsd publishes both.
@Suite("Connections between domains through gateways", .serialized)
struct InterdomainTests {
  static let serviceDocument = """
    apiVersion: networkservicemesh.io/v1
    kind: NetworkService
    metadata:
      name: simple
    spec:
      payload: IP
    """

  @Test func aClientInAReachesAnEndpointInBThroughBothGateways() async throws {
    let a = "a.gw.nsm.test"
    let b = "b.gw.nsm.test"
    let domains = try await TestDomains.start([a, b])
    let dns = domains.nsd.server.description
    let gatewayA = try #require(domains[a].gatewayURL)
    let gatewayB = try #require(domains[b].gatewayURL)
    try await ConnectSandbox.run(registryArguments: ["--domain", a, "--dns-server", dns]) { sandbox in
      let registryB = try await sandbox.registry(
        "registry-b",
        arguments: ["--domain", b, "--listen", "tcp://127.0.0.1:\(domains[b].registryPort)", "--dns-server", dns]
      )
      let applied = try await NSMProcess.run(
        ["apply", "-f", "-", "--registry", registryB.description],
        stdin: Self.serviceDocument
      )
      #expect(applied.status == 0, "\(applied.stderr)")
      let proxyA = try await sandbox.proxy(
        "proxy-a",
        domain: a,
        registry: sandbox.registry,
        listen: gatewayA,
        arguments: ["--dns-server", dns]
      )
      let proxyB = try await sandbox.proxy(
        "proxy-b",
        domain: b,
        registry: registryB,
        listen: gatewayB,
        arguments: ["--dns-server", dns]
      )
      let managerA = try await sandbox.manager("mgr-a", node: "node-a", arguments: ["--proxy-url", gatewayA])
      let managerB = try await sandbox.manager("mgr-b", node: "node-b", registry: registryB)
      _ = try await sandbox.endpoint("nse-b", manager: managerB, services: ["simple"], cidr: "10.150.0.0/24")
      let client = try sandbox.client(
        "nsc-a",
        manager: managerA,
        services: ["simple@\(b)"],
        arguments: ["--max-token-lifetime", "3s"]
      )
      var lines = ConnectionLines(client)
      let connection = try await lines.next()
      // Six hops, a segment and a token each (upstream counts 8: its forwarders are hops too).
      #expect(connection.hops == ["nsc-a", "mgr-a", "proxy-a", "proxy-b", "mgr-b", "nse-b"])
      #expect(connection.networkServiceEndpointName == "nse-b@\(b)")
      #expect(connection.networkService == "simple@\(b)")
      #expect(connection.clientAddress?.hasPrefix("10.150.0.") == true)

      // Inside B the names carry no @B.
      let endpointSocket = "unix://\(sandbox.folder)/nse-b.sock"
      let atEndpoint = try await NSMProcess.run(["get", "connections", "--manager", endpointSocket, "-o", "json"])
      let seen = try Connection_Connection(
        jsonString: try #require(atEndpoint.stdout.split(separator: "\n").first.map(String.init))
      )
      #expect(seen.networkService == "simple")
      #expect(seen.networkServiceEndpointName == "nse-b")

      // Tokens of 3 s: two lifetimes later only refreshes through every hop keep it.
      try await Task.sleep(for: .seconds(6))
      for hop in [managerA.url.description, gatewayA, gatewayB, managerB.url.description, endpointSocket] {
        let listing = try await NSMProcess.run(["get", "connections", "--manager", hop, "-o", "json"])
        #expect(listing.status == 0 && !listing.stdout.isEmpty, "\(hop) holds the connection: \(listing.stderr)")
      }

      // Close reaches every hop.
      client.signal(SIGTERM)
      #expect(await client.waitForExit() == 0)
      for hop in [managerA.url.description, gatewayA, gatewayB, managerB.url.description, endpointSocket] {
        let listing = try await NSMProcess.run(["get", "connections", "--manager", hop, "-o", "json"])
        #expect(listing.status == 0 && listing.stdout.isEmpty, "\(hop) holds nothing: \(listing.stdout)")
      }
      _ = (proxyA, proxyB)
    }
  }

  @Test func anUnreachableGatewayIsUnavailableNamingIt() async throws {
    let a = "a.gw-down.nsm.test"
    let b = "b.gw-down.nsm.test"
    let domains = try await TestDomains.start([a, b])
    let dns = domains.nsd.server.description
    let gatewayA = try #require(domains[a].gatewayURL)
    let gatewayB = try #require(domains[b].gatewayURL)
    try await ConnectSandbox.run(registryArguments: ["--domain", a, "--dns-server", dns]) { sandbox in
      let registryB = try await sandbox.registry(
        "registry-b",
        arguments: ["--domain", b, "--listen", "tcp://127.0.0.1:\(domains[b].registryPort)", "--dns-server", dns]
      )
      _ = try await NSMProcess.run(
        ["apply", "-f", "-", "--registry", registryB.description],
        stdin: Self.serviceDocument
      )
      let managerA = try await sandbox.manager("mgr-a", node: "node-a", arguments: ["--proxy-url", gatewayA])
      let managerB = try await sandbox.manager("mgr-b", node: "node-b", registry: registryB)
      _ = try await sandbox.endpoint("nse-b", manager: managerB, services: ["simple"], cidr: "10.151.0.0/24")
      func request() async throws -> NSMProcess.Result {
        try await NSMProcess.run([
          "client", "--connect-to", managerA.socket.description, "--network-service", "simple@\(b)",
          "--request-timeout", "2s",
        ])
      }
      // No gateway in A yet: its address is named.
      let withoutA = try await request()
      #expect(withoutA.status == 1)
      #expect(withoutA.stderr.contains("UNAVAILABLE"), "\(withoutA.stderr)")
      #expect(withoutA.stderr.contains(gatewayA.replacingOccurrences(of: "tcp://", with: "")), "\(withoutA.stderr)")

      // A's gateway, but none in B: B's published gateway is named.
      _ = try await sandbox.proxy(
        "proxy-a",
        domain: a,
        registry: sandbox.registry,
        listen: gatewayA,
        arguments: ["--dns-server", dns]
      )
      let withoutB = try await request()
      #expect(withoutB.status == 1)
      #expect(withoutB.stderr.contains("UNAVAILABLE"), "\(withoutB.stderr)")
      #expect(withoutB.stderr.contains(gatewayB.replacingOccurrences(of: "tcp://", with: "")), "\(withoutB.stderr)")
      // Nothing was left behind at A's manager.
      let listing = try await NSMProcess.run([
        "get", "connections", "--manager", managerA.url.description, "-o", "json",
      ])
      #expect(listing.stdout.isEmpty, "\(listing.stdout)")
    }
  }

  @Test func killedGatewaysAndAKilledEndpointHealWithoutRestartingTheClient() async throws {
    let a = "a.gw-heal.nsm.test"
    let b = "b.gw-heal.nsm.test"
    let domains = try await TestDomains.start([a, b])
    let dns = domains.nsd.server.description
    let gatewayA = try #require(domains[a].gatewayURL)
    let gatewayB = try #require(domains[b].gatewayURL)
    try await ConnectSandbox.run(registryArguments: ["--domain", a, "--dns-server", dns]) { sandbox in
      let registryB = try await sandbox.registry(
        "registry-b",
        arguments: ["--domain", b, "--listen", "tcp://127.0.0.1:\(domains[b].registryPort)", "--dns-server", dns]
      )
      _ = try await NSMProcess.run(
        ["apply", "-f", "-", "--registry", registryB.description],
        stdin: Self.serviceDocument
      )
      func startGateway(_ name: String, _ domain: String, _ registry: ServiceAddress, _ url: String) async throws
        -> NSMProcess.Running
      {
        try await sandbox.proxy(
          name,
          domain: domain,
          registry: registry,
          listen: url,
          arguments: ["--dns-server", dns]
        )
      }
      var proxyA = try await startGateway("proxy-a", a, sandbox.registry, gatewayA)
      var proxyB = try await startGateway("proxy-b", b, registryB, gatewayB)
      let managerA = try await sandbox.manager("mgr-a", node: "node-a", arguments: ["--proxy-url", gatewayA])
      let managerB = try await sandbox.manager("mgr-b", node: "node-b", registry: registryB)
      let first = try await sandbox.endpoint("nse-b1", manager: managerB, services: ["simple"], cidr: "10.152.0.0/24")
      let second = try await sandbox.endpoint("nse-b2", manager: managerB, services: ["simple"], cidr: "10.152.0.0/24")
      let client = try sandbox.client("nsc-a", manager: managerA, services: ["simple@\(b)"])
      var lines = ConnectionLines(client)
      let connection = try await lines.next()
      #expect(connection.hops.count == 6)
      @Sendable func heldEverywhere() async -> Bool {
        for hop in [managerA.url.description, gatewayA, gatewayB, managerB.url.description] {
          guard let listing = try? await NSMProcess.run(["get", "connections", "--manager", hop, "-o", "json"]),
            listing.status == 0, !listing.stdout.isEmpty
          else { return false }
        }
        return true
      }

      // Each gateway killed outright and started again at its address: the client's connection
      // comes back through it.
      for (name, url) in [("proxy-b", gatewayB), ("proxy-a", gatewayA)] {
        let victim = name == "proxy-b" ? proxyB : proxyA
        victim.signal(SIGKILL)
        _ = await victim.waitForExit()
        let restarted = try await startGateway(
          name,
          name == "proxy-b" ? b : a,
          name == "proxy-b" ? registryB : sandbox.registry,
          url
        )
        if name == "proxy-b" { proxyB = restarted } else { proxyA = restarted }
        #expect(await eventually(within: .seconds(20)) { await heldEverywhere() }, "healed after \(name) died")
        #expect(client.process.isRunning)
      }

      // The endpoint it reaches is killed: the DOWN crosses both gateways and the client moves
      // to the other endpoint in B.
      let victim = connection.networkServiceEndpointName.hasPrefix("nse-b1") ? "nse-b1" : "nse-b2"
      let survivor = victim == "nse-b1" ? "nse-b2" : "nse-b1"
      (victim == "nse-b1" ? first : second).signal(SIGKILL)
      let healed = try await lines.next(within: .seconds(20)) {
        $0.state == .up && $0.networkServiceEndpointName == "\(survivor)@\(b)"
      }
      #expect(healed.hops == ["nsc-a", "mgr-a", "proxy-a", "proxy-b", "mgr-b", survivor])
      #expect(client.process.isRunning)
    }
  }

  /// An error status from inside B reaches the client in A as B said it: each gateway passes on
  /// the next hop's status (not its trailers, which would reset the stream on the way back).
  @Test func aFailureInsideBReachesTheClientInAAsItsStatus() async throws {
    let a = "a.gw-status.nsm.test"
    let b = "b.gw-status.nsm.test"
    let domains = try await TestDomains.start([a, b])
    let dns = domains.nsd.server.description
    let gatewayA = try #require(domains[a].gatewayURL)
    let gatewayB = try #require(domains[b].gatewayURL)
    try await ConnectSandbox.run(registryArguments: ["--domain", a, "--dns-server", dns]) { sandbox in
      let registryB = try await sandbox.registry(
        "registry-b",
        arguments: ["--domain", b, "--listen", "tcp://127.0.0.1:\(domains[b].registryPort)", "--dns-server", dns]
      )
      _ = try await NSMProcess.run(
        ["apply", "-f", "-", "--registry", registryB.description],
        stdin: Self.serviceDocument
      )
      _ = try await sandbox.proxy(
        "proxy-a",
        domain: a,
        registry: sandbox.registry,
        listen: gatewayA,
        arguments: ["--dns-server", dns]
      )
      _ = try await sandbox.proxy(
        "proxy-b",
        domain: b,
        registry: registryB,
        listen: gatewayB,
        arguments: ["--dns-server", dns]
      )
      let managerA = try await sandbox.manager("mgr-a", node: "node-a", arguments: ["--proxy-url", gatewayA])
      let managerB = try await sandbox.manager("mgr-b", node: "node-b", registry: registryB)
      // Registered, then dead: B's manager cannot reach it and says so.
      let endpoint = try await sandbox.endpoint("nse-b", manager: managerB, services: ["simple"], cidr: "10.154.0.0/24")
      endpoint.signal(SIGKILL)
      _ = await endpoint.waitForExit()
      let result = try await NSMProcess.run([
        "client", "--connect-to", managerA.socket.description, "--network-service", "simple@\(b)",
        "--request-timeout", "3s",
      ])
      #expect(result.status == 1)
      #expect(result.stderr.contains("UNAVAILABLE"), "\(result.stderr)")
      #expect(!result.stderr.contains("Stream unexpectedly closed"), "\(result.stderr)")
      #expect(
        result.stderr.contains("nse-b.sock") || result.stderr.contains("nse-b' "),
        "B's manager's words: \(result.stderr)"
      )
    }
  }
}
