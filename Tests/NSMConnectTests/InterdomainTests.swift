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
    try await TwoDomains.run("gw") { domains in
      let (sandbox, b, gatewayA, gatewayB) = (domains.sandbox, domains.b, domains.gatewayA, domains.gatewayB)
      let (managerA, managerB) = (domains.managerA, domains.managerB)
      try await domains.startGateway("a")
      try await domains.startGateway("b")
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
    }
  }

  /// Upstream's `TestNSMGR_FloatingInterdomainUseCase`: the endpoint in B registers into the
  /// floating domain, which stores it with B's gateway; a client in A asks for `simple@F`.
  @Test func aClientInAReachesAnEndpointOfBRegisteredInAFloatingDomain() async throws {
    try await TwoDomains.run("gw-float", floating: true) { domains in
      let (sandbox, f, gatewayA, gatewayB) = (domains.sandbox, domains.f, domains.gatewayA, domains.gatewayB)
      let (managerA, managerB) = (domains.managerA, domains.managerB)
      try await domains.startGateway("a")
      try await domains.startGateway("b")
      _ = try await sandbox.endpoint(
        "nse-f@\(f)",
        manager: managerB,
        services: ["simple@\(f)"],
        cidr: "10.156.0.0/24"
      )
      // The floating registry holds it with B's gateway, under its plain name.
      let found = try await NSMProcess.run([
        "get", "nse", "nse-f@\(f)", "--registry", sandbox.registry.description, "-o", "json",
      ])
      #expect(found.stdout.contains(gatewayB), "\(found.stdout) \(found.stderr)")

      let client = try sandbox.client("nsc-a", manager: managerA, services: ["simple@\(f)"])
      var lines = ConnectionLines(client)
      let connection = try await lines.next()
      #expect(connection.hops == ["nsc-a", "mgr-a", "proxy-a", "proxy-b", "mgr-b", "nse-f@\(f)"])
      #expect(connection.networkServiceEndpointName == "nse-f@\(f)")
      #expect(connection.networkService == "simple@\(f)")
      #expect(connection.clientAddress?.hasPrefix("10.156.0.") == true)

      // A floating domain's names are not B's: the endpoint sees them as it registered them.
      let endpointSocket = "unix://\(sandbox.folder)/nse-f@\(f).sock"
      let atEndpoint = try await NSMProcess.run(["get", "connections", "--manager", endpointSocket, "-o", "json"])
      let seen = try Connection_Connection(
        jsonString: try #require(atEndpoint.stdout.split(separator: "\n").first.map(String.init))
      )
      #expect(seen.networkService == "simple@\(f)")
      #expect(seen.networkServiceEndpointName == "nse-f@\(f)")

      client.signal(SIGTERM)
      #expect(await client.waitForExit() == 0)
      for hop in [managerA.url.description, gatewayA, gatewayB, managerB.url.description, endpointSocket] {
        let listing = try await NSMProcess.run(["get", "connections", "--manager", hop, "-o", "json"])
        #expect(listing.status == 0 && listing.stdout.isEmpty, "\(hop) holds nothing: \(listing.stdout)")
      }
    }
  }

  /// B's own registry hosts the floating domain and B's endpoint registers into it: the record
  /// holds B's gateway and no manager, so gateway B, which would call itself, refuses at once
  /// with words that say why (a limit, docs/gateway.md) instead of calling itself and waiting
  /// on its own connection until the deadline.
  @Test func aFloatingDomainHostedByTheEndpointsOwnRegistryIsRefusedClearly() async throws {
    let (a, b, f) = ("a.gw-hosted.nsm.test", "b.gw-hosted.nsm.test", "f.gw-hosted.nsm.test")
    let domains = try await TestDomains.start([a, b]) { ports in
      [
        f: try ZoneRecords.lines(domain: f, registry: .init(parsing: "127.0.0.1:\(ports[b]!)"), proxy: nil, ttl: 5)
          .joined(separator: "\n")
      ]
    }
    let dns = domains.nsd.server.description
    let (gatewayA, gatewayB) = (try #require(domains[a].gatewayURL), try #require(domains[b].gatewayURL))
    try await ConnectSandbox.run(registryArguments: ["--domain", a, "--dns-server", dns]) { sandbox in
      let registryB = try await sandbox.registry(
        "registry-b",
        arguments: [
          "--domain", b, "--floating-domain", f, "--listen", "tcp://127.0.0.1:\(domains[b].registryPort)",
          "--dns-server", dns,
        ]
      )
      let applied = try await NSMProcess.run(
        ["apply", "-f", "-", "--registry", registryB.description],
        stdin:
          "{apiVersion: networkservicemesh.io/v1, kind: NetworkService, metadata: {name: simple@\(f)}, spec: {payload: IP}}"
      )
      #expect(applied.status == 0, "\(applied.stderr)")
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
      _ = try await sandbox.endpoint("nse-f@\(f)", manager: managerB, services: ["simple@\(f)"], cidr: "10.159.0.0/24")

      // Each attempt is refused at once (the client retries until its timeout and reports
      // the last reason; before, each attempt waited out its deadline: DEADLINE_EXCEEDED).
      let result = try await NSMProcess.run([
        "client", "--connect-to", managerA.socket.description, "--network-service", "simple@\(f)",
        "--request-timeout", "5s",
      ])
      #expect(result.status == 1)
      #expect(result.stderr.contains("FAILED_PRECONDITION"), "\(result.stderr)")
      #expect(result.stderr.contains("a floating domain this domain's own registry hosts"), "\(result.stderr)")
    }
  }

  @Test func aManagerFindsItsDomainsGatewayInDNS() async throws {
    try await TwoDomains.run("gw-dns", publishedGateway: true) { domains in
      try await domains.startGateway("a")
      try await domains.startGateway("b")
      _ = try await domains.sandbox.endpoint(
        "nse-b",
        manager: domains.managerB,
        services: ["simple"],
        cidr: "10.155.0.0/24"
      )
      var lines = ConnectionLines(
        try domains.sandbox.client("nsc-a", manager: domains.managerA, services: ["simple@\(domains.b)"])
      )
      // Through A's gateway although the manager was not told it: `_nsm-proxy._tcp` of its domain.
      #expect(try await lines.next().hops == ["nsc-a", "mgr-a", "proxy-a", "proxy-b", "mgr-b", "nse-b"])
    }
  }

  @Test func anUnreachableGatewayIsUnavailableNamingIt() async throws {
    try await TwoDomains.run("gw-down") { domains in
      let (sandbox, b, gatewayA, gatewayB) = (domains.sandbox, domains.b, domains.gatewayA, domains.gatewayB)
      let (managerA, managerB) = (domains.managerA, domains.managerB)
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
      try await domains.startGateway("a")
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
    try await TwoDomains.run("gw-heal") { domains in
      let (sandbox, b, gatewayA, gatewayB) = (domains.sandbox, domains.b, domains.gatewayA, domains.gatewayB)
      let (managerA, managerB) = (domains.managerA, domains.managerB)
      var proxyA = try await domains.startGateway("a")
      var proxyB = try await domains.startGateway("b")
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
      for (name, domain) in [("proxy-b", "b"), ("proxy-a", "a")] {
        let victim = domain == "b" ? proxyB : proxyA
        victim.signal(SIGKILL)
        _ = await victim.waitForExit()
        let restarted = try await domains.startGateway(domain)
        if domain == "b" { proxyB = restarted } else { proxyA = restarted }
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
    try await TwoDomains.run("gw-status") { domains in
      let (sandbox, b, managerA, managerB) = (domains.sandbox, domains.b, domains.managerA, domains.managerB)
      try await domains.startGateway("a")
      try await domains.startGateway("b")
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

/// Two domains on loopback for the gateway tests: nsd publishing both registries and gateways,
/// A's registry (the sandbox's) and B's at its published port, `simple` in B, a manager in
/// each (A's sends other domains' connections to A's gateway); the test starts the gateways.
struct TwoDomains {
  let a: String
  let b: String
  /// The floating domain, when the test asked for one.
  let f: String
  let sandbox: ConnectSandbox
  let dns: String
  let gatewayA: String
  let gatewayB: String
  let registryB: ServiceAddress
  let managerA: ConnectSandbox.Manager
  let managerB: ConnectSandbox.Manager

  /// `publishedGateway`: A's manager finds its gateway in DNS (`--domain`) instead of being
  /// given it (`--proxy-url`).
  /// `floating`: a floating domain too (`f.TAG.nsm.test`, its registry, `simple` in it).
  /// `certificates`: a folder of `nsm cert` SVIDs, so every process runs with mTLS as
  /// `spiffe://nsm.a/NAME` or, for B's (`…-b`, `nse-b…`), `spiffe://nsm.b/NAME`.
  /// `policies`: a policy file (`--policy`) by process name (`registry-b`, `proxy-a`, …).
  static func run(
    _ tag: String,
    publishedGateway: Bool = false,
    floating: Bool = false,
    certificates: String? = nil,
    policies: [String: String] = [:],
    _ body: (TwoDomains) async throws -> Void
  ) async throws {
    let a = "a.\(tag).nsm.test"
    let b = "b.\(tag).nsm.test"
    let f = "f.\(tag).nsm.test"
    let domains = try await TestDomains.start([a, b], floating: floating ? [f] : [])
    let dns = domains.nsd.server.description
    let gatewayA = try #require(domains[a].gatewayURL)
    let gatewayB = try #require(domains[b].gatewayURL)
    let identity: @Sendable (String) -> [String] = { name in
      (certificates.map { ["--tls-dir", "\($0)/\(Self.trustDomain(of: name))/\(name)"] } ?? [])
        + (policies[name].map { ["--policy", $0] } ?? [])
    }
    try await ConnectSandbox.run(
      registryArguments: ["--domain", a, "--dns-server", dns],
      commonArguments: identity
    ) { sandbox in
      let registryB = try await sandbox.registry(
        "registry-b",
        arguments: ["--domain", b, "--listen", "tcp://127.0.0.1:\(domains[b].registryPort)", "--dns-server", dns]
      )
      let applied = try await NSMProcess.run(
        ["apply", "-f", "-", "--registry", registryB.description] + identity("apply-b"),
        stdin: InterdomainTests.serviceDocument
      )
      #expect(applied.status == 0, "\(applied.stderr)")
      if floating {
        let registryF = try await sandbox.registry(
          "registry-f",
          arguments: ["--domain", f, "--listen", "tcp://127.0.0.1:\(domains[f].registryPort)", "--dns-server", dns]
        )
        let applied = try await NSMProcess.run(
          ["apply", "-f", "-", "--registry", registryF.description],
          stdin: InterdomainTests.serviceDocument
        )
        #expect(applied.status == 0, "\(applied.stderr)")
      }
      let managerA = try await sandbox.manager(
        "mgr-a",
        node: "node-a",
        arguments: publishedGateway ? ["--domain", a, "--dns-server", dns] : ["--proxy-url", gatewayA]
      )
      let managerB = try await sandbox.manager("mgr-b", node: "node-b", registry: registryB)
      try await body(
        TwoDomains(
          a: a,
          b: b,
          f: f,
          sandbox: sandbox,
          dns: dns,
          gatewayA: gatewayA,
          gatewayB: gatewayB,
          registryB: registryB,
          managerA: managerA,
          managerB: managerB
        )
      )
    }
  }

  /// Which trust domain a process of these tests belongs to, by its name.
  static func trustDomain(of name: String) -> String {
    name.hasSuffix("-b") || name.hasPrefix("nse-b") ? "nsm.b" : "nsm.a"
  }

  /// The gateway of domain A (`"a"`) or B, at its published address.
  @discardableResult
  func startGateway(_ domain: String) async throws -> NSMProcess.Running {
    let (name, domainName, registry, url) =
      domain == "a" ? ("proxy-a", a, sandbox.registry, gatewayA) : ("proxy-b", b, registryB, gatewayB)
    return try await sandbox.proxy(
      name,
      domain: domainName,
      registry: registry,
      listen: url,
      arguments: ["--dns-server", dns]
    )
  }
}
