import Foundation
import NSMAPI
import NSMCLI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// `nsm` as a person runs it, against a registry on a loopback port.
@Suite("nsm apply / get / delete / registry", .timeLimit(.minutes(2)))
struct CLIProcessTests {
  static let exampleFiles = [
    "simple-network-service.yaml", "composition.yaml", "selective-composition.yaml",
    "topology-aware-selection.yaml", "scale-from-zero.yaml",
  ].map { ExampleLoadingTests.examples.appendingPathComponent($0).path }

  /// The seed's examples name services in three domains; one registry serves the first and
  /// hosts the other two as floating domains, so every example is stored here.
  @Test func examplesRoundTripThroughApplyAndGetYAML() async throws {
    try await TestRegistry.run {
      $0.domain = "finance.example.com"
      $0.federation.floatingDomains = ["marketing.example.com", "sales.example.com"]
    } _: { registry in
      let url = registry.address.description
      for file in Self.exampleFiles {
        let applied = try await NSMProcess.run(["apply", "-f", file, "--registry", url])
        #expect(applied.status == 0, "\(file): \(applied.stderr)")
        #expect(applied.stdout.contains(" applied"))
      }
      // A plain Find lists the registry's own domain, with its suffix stripped.
      let stored = try await registry.withClient { try await $0.find(Registry_NetworkService()) }
      #expect(stored.map(\.name).sorted() == ["service-mesh", "simple-network-service"])
      // Two examples share the name local-vl3@marketing.example.com: the later one wins.
      let floating = try await registry.withClient {
        try await $0.find(Registry_NetworkService.with { $0.name = "local-vl3@marketing.example.com" })
      }
      #expect(floating.map(\.name) == ["local-vl3@marketing.example.com"])

      let listed = try await NSMProcess.run(["get", "ns", "-o", "yaml", "--registry", url])
      #expect(listed.status == 0, "\(listed.stderr)")
      let reloaded = try ResourceLoader.load(listed.stdout, source: "get output")
      #expect(reloaded.warnings.isEmpty)
      #expect(reloaded.resources == stored.map(Resource.networkService))

      // Applying what get printed changes nothing.
      let again = try await NSMProcess.run(["apply", "-f", "-", "--registry", url], stdin: listed.stdout)
      #expect(again.status == 0, "\(again.stderr)")
      #expect(try await registry.withClient { try await $0.find(Registry_NetworkService()) } == stored)
    }
  }

  @Test func endpointsJSONAndTable() async throws {
    try await TestRegistry.run { registry in
      let url = registry.address.description
      let document = """
        apiVersion: networkservicemesh.io/v1
        kind: NetworkServiceEndpoint
        metadata:
          name: nse-1
        spec:
          network_service_names: [simple-network-service]
          network_service_labels:
            simple-network-service:
              labels: {nodeName: node-1}
          url: tcp://10.0.0.1:5001
        """
      let applied = try await NSMProcess.run(["apply", "-f", "-", "--registry", url], stdin: document)
      #expect(applied.status == 0, "\(applied.stderr)")
      #expect(applied.stdout == "networkserviceendpoint/nse-1 applied")

      let json = try await NSMProcess.run(["get", "nse", "nse-1", "-o", "json", "--registry", url])
      #expect(json.status == 0)
      let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
      #expect(object["kind"] as? String == "NetworkServiceEndpoint")
      let spec = try #require(object["spec"] as? [String: Any])
      #expect(spec["url"] as? String == "tcp://10.0.0.1:5001")
      #expect(spec["expiration_time"] != nil, "the registry set the lease")

      let table = try await NSMProcess.run(["get", "nse", "--registry", url])
      let lines = table.stdout.split(separator: "\n")
      #expect(lines.first?.hasPrefix("NAME") == true)
      #expect(lines.count == 2)
      #expect(lines.last?.contains("tcp://10.0.0.1:5001") == true)

      let deleted = try await NSMProcess.run(["delete", "nse", "nse-1", "--registry", url])
      #expect(deleted.status == 0)
      #expect(registry.endpoints.count == 0)
    }
  }

  @Test func serverErrorsArePrintedAndExitNonZero() async throws {
    try await TestRegistry.run { registry in
      let url = registry.address.description
      let bad = """
        apiVersion: networkservicemesh.io/v1
        kind: NetworkService
        metadata: {name: good}
        ---
        apiVersion: networkservicemesh.io/v1
        kind: NetworkService
        metadata: {name: bad}
        spec: {payload: L2}
        """
      let result = try await NSMProcess.run(["apply", "-f", "-", "--registry", url], stdin: bad)
      #expect(result.status != 0)
      #expect(result.stderr.contains("network_service.payload 'L2' is not one of IP, ETHERNET"))
      #expect(result.stderr.contains("[INVALID_ARGUMENT]"))
      // The good document before it was still applied.
      #expect(registry.networkServices.count == 1)

      let missing = try await NSMProcess.run(["get", "ns", "nope", "--registry", url])
      #expect(missing.status != 0)
      #expect(missing.stderr.contains("networkservice 'nope' not found"))

      let unreadable = try await NSMProcess.run(["apply", "-f", "/nonexistent.yaml", "--registry", url])
      #expect(unreadable.status != 0)
      #expect(unreadable.stderr.contains("cannot read /nonexistent.yaml"))
    }
  }

  @Test func registryURLFromTheEnvironment() async throws {
    try await TestRegistry.run { registry in
      let result = try await NSMProcess.run(
        ["get", "ns", "-o", "json"],
        environment: ["NSM_REGISTRY_URL": registry.address.description]
      )
      #expect(result.status == 0, "\(result.stderr)")
      #expect(result.stdout.contains("\"kind\" : \"List\""))
    }
  }

  @Test func unreachableRegistryIsAnError() async throws {
    let result = try await NSMProcess.run(["get", "ns", "--registry", "tcp://127.0.0.1:1"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("error:"))
  }

  @Test func getWatchPrintsInitialStateThenChanges() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Fixtures.endpoint("nse-1"))
        let watcher = try NSMProcess.Running([
          "get", "nse", "--watch", "-o", "json", "--registry", registry.address.description,
        ])
        var lines = watcher.stdoutLines.makeAsyncIterator()
        let initial = try #require(await lines.next())
        #expect(initial.hasPrefix("{\"type\":\"UPDATE\""))
        #expect(initial.contains("\"nse-1\""))

        _ = try await client.register(Fixtures.endpoint("nse-2"))
        let added = try #require(await lines.next())
        #expect(added.contains("\"UPDATE\"") && added.contains("\"nse-2\""))

        try await client.unregister(Fixtures.endpoint("nse-1"))
        let deleted = try #require(await lines.next())
        #expect(deleted.contains("\"DELETE\"") && deleted.contains("\"nse-1\""))

        watcher.signal(SIGTERM)
        _ = await watcher.waitForExit()
      }
    }
  }

  /// SIGTERM: open watch streams end cleanly, in-flight calls finish, the exit code is 0.
  @Test func registryShutsDownGracefullyOnSIGTERM() async throws {
    let registry = try NSMProcess.Running(["registry", "--listen", "tcp://127.0.0.1:0", "--log-level", "info"])
    let listening = try await registry.registryAddress()

    try await RegistryClient.with(address: listening) { client in
      _ = try await client.register(Fixtures.endpoint("nse-1"))
      try await client.watch(Registry_NetworkServiceEndpoint()) { events in
        let first = try await events.next()
        #expect(first?.networkServiceEndpoint.name == "nse-1")
        registry.signal(SIGTERM)
        let end = try await events.next()
        #expect(end == nil, "the watch ends with status OK")
      }
    }
    #expect(await registry.waitForExit() == 0)
  }

  @Test func badFlagsAreRefusedBeforeStarting() async throws {
    let result = try await NSMProcess.run(["registry", "--expire-period", "soon"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("--expire-period / NSM_EXPIRE_PERIOD"))
    let env = try await NSMProcess.run(["registry"], environment: ["NSM_LISTEN_ON": "tcp://example.com:5002"])
    #expect(env.status != 0)
    #expect(env.stderr.contains("NSM_LISTEN_ON"))
  }

  /// `nsm registry` with federation flags: it finds domain B through --dns-server, registers an
  /// endpoint there with --public-url and --cluster-label, and `nsm get` reads it back through A.
  @Test func registryForwardsWithItsFederationFlags() async throws {
    let a = "a.fed.test"
    let b = "b.fed.test"
    let domains = try await TestDomains.start([a, b])
    try await TestRegistry.run {
      $0.domain = b
      $0.listen = .tcp(host: "127.0.0.1", port: domains[b].registryPort)
    } _: { registryB in
      let registryA = try NSMProcess.Running([
        "registry", "--domain", a, "--listen", "tcp://127.0.0.1:\(domains[a].registryPort)",
        "--dns-server", domains.nsd.server.description, "--public-url", "tcp://192.0.2.1:5004",
        "--cluster-label", "clusterName=cluster-a", "--log-level", "info",
      ])
      let url = try await registryA.registryAddress().description
      let document = """
        apiVersion: networkservicemesh.io/v1
        kind: NetworkServiceEndpoint
        metadata:
          name: nse-1@\(b)
        spec:
          network_service_names: [ns-1]
          url: tcp://10.0.0.1:5001
        """
      let applied = try await NSMProcess.run(["apply", "-f", "-", "--registry", url], stdin: document)
      #expect(applied.status == 0, "\(applied.stderr)")

      let stored = try await registryB.endpoints.find(Registry_NetworkServiceEndpoint())
      #expect(stored.map(\.name) == ["nse-1"])
      #expect(stored.first?.url == "tcp://192.0.2.1:5004")
      #expect(stored.first?.networkServiceLabels["ns-1"]?.labels == ["clusterName": "cluster-a"])

      let listed = try await NSMProcess.run(["get", "nse", "nse-1@\(b)", "-o", "json", "--registry", url])
      #expect(listed.status == 0, "\(listed.stderr)")
      #expect(listed.stdout.contains("\"nse-1@\(b)\""))
      #expect(listed.stdout.contains(domains[b].gatewayURL ?? "?"), "found through B's gateway")
      registryA.signal(SIGTERM)
      #expect(await registryA.waitForExit() == 0)
    }
  }

  @Test func badFederationFlagsAreRefusedBeforeStarting() async throws {
    for (arguments, message) in [
      (["--floating-domain", "bad_domain!"], "--floating-domain / NSM_FLOATING_DOMAINS"),
      (["--domain", "f.example", "--floating-domain", "F.example"], "listed twice"),
      (["--cluster-label", "no-equals"], "--cluster-label / NSM_CLUSTER_LABELS"),
      (["--public-url", "tcp://0.0.0.0:5004"], "--public-url / NSM_PUBLIC_URL"),
      (["--forward-timeout", "0s"], "--forward-timeout / NSM_FORWARD_TIMEOUT"),
      (["--dns-server", "not a server"], "--dns-server / NSM_DNS_SERVERS"),
    ] {
      let result = try await NSMProcess.run(["registry"] + arguments)
      #expect(result.status != 0, "\(arguments)")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
  }
}

/// `nsm proxy` refuses flags that cannot work, naming the flag, before it starts.
@Suite("CLI: gateway flags")
struct ProxyFlagTests {
  @Test func badGatewayFlagsAreRefusedBeforeStarting() async throws {
    let dns = ["--dns-server", "127.0.0.1:1"]
    let badMap = FileManager.default.temporaryDirectory.appendingPathComponent("map-ip-\(UUID().uuidString).yaml")
    try "10.0.0.5: node-1\n".write(to: badMap, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: badMap) }
    for (arguments, message) in [
      (["--domain", "bad_domain!"], "--domain / NSM_DOMAIN"),
      (["--public-url", "tcp://0.0.0.0:5004"], "--public-url / NSM_PUBLIC_URL"),
      (["--inside-tunnel", "10.0.0.1"], "go together"),
      (["--inside-tunnel", "not-an-ip", "--outside-tunnel", "10.0.0.2"], "--inside-tunnel / NSM_INSIDE_TUNNEL"),
      (["--inside-tunnel", "10.0.0.1", "--outside-tunnel", "10.0.0.1"], "must differ"),
      (["--relay", "kernel"], "needs --inside-tunnel"),
      (["--inside-tunnel", "10.0.0.1", "--outside-tunnel", "10.0.0.2", "--relay", "fast"], "--relay / NSM_RELAY"),
      (["--map-ip-file", "/nonexistent/map-ip.yaml"], "--map-ip-file / NSM_MAP_IP_FILE_PATH"),
      (["--map-ip-file", badMap.path], "'node-1' (for 10.0.0.5) is not an IP address"),
      (["--policy", badMap.path], "--policy / NSM_POLICY_FILE needs an identity"),
    ] {
      let result = try await NSMProcess.run(["proxy", "--insecure"] + dns + arguments)
      #expect(result.status != 0, "\(arguments)")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
  }
}

/// The transport limits every server command takes.
@Suite("CLI: server limits")
struct ServerLimitFlagTests {
  @Test func limitFlagsThatCannotWorkAreRefusedBeforeStarting() async throws {
    for (arguments, message) in [
      (["--max-streams", "0"], "--max-streams / NSM_MAX_STREAMS"),
      (["--max-connections", "many"], "--max-connections / NSM_MAX_CONNECTIONS"),
      (["--handshake-timeout", "0s"], "--handshake-timeout / NSM_HANDSHAKE_TIMEOUT"),
      (["--max-connection-idle", "soon"], "--max-connection-idle / NSM_MAX_CONNECTION_IDLE"),
      (["--max-request-bytes", "100"], "--max-request-bytes / NSM_MAX_REQUEST_BYTES"),
      (["--dns-cache-size", "0"], "--dns-cache-size / NSM_DNS_CACHE_SIZE"),
    ] {
      let result = try await NSMProcess.run(["registry", "--insecure"] + arguments)
      #expect(result.status != 0, "\(arguments)")
      #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
  }

  /// A registry started with `--max-connections 2` closes the third connection at once.
  @Test func theConnectionCapComesFromItsFlag() async throws {
    let registry = try NSMProcess.Running([
      "registry", "--insecure", "--listen", "tcp://127.0.0.1:0", "--log-level", "info", "--max-connections", "2",
      "--handshake-timeout", "1m",
    ])
    let address = try await registry.registryAddress()
    guard case .tcp(_, let port) = address else { throw NSMError(.internal, "not tcp") }
    do {
      let held = try (0..<2).map { _ in try RawConnection(port: port) }
      let third = try RawConnection(port: port)
      #expect(await third.closedByServer(within: .seconds(20)))
      #expect(await held[1].closedByServer(within: .milliseconds(300)) == false)
    }
    // The held connections are closed (out of scope): the registry has nothing to wait for.
    registry.signal(SIGTERM)
    #expect(await registry.waitForExit() == 0)
  }
}
