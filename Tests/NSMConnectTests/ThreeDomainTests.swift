import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// Three domains with a gateway each and a floating one, on loopback: upstream's
/// `TestNSMGR_Interdomain_TwoNodesNSEs`, `Test_NSEMovedFromInterdomainToFloatingUseCase` and
/// `TestNSMGR_FloatingInterdomain_FourClusters` with real processes, in one client.
@Suite("Connections into several domains at once", .serialized)
struct ThreeDomainTests {
  static func service(_ name: String) -> String {
    """
    apiVersion: networkservicemesh.io/v1
    kind: NetworkService
    metadata: {name: \(name)}
    spec: {payload: IP}
    """
  }

  /// One client in A holds four connections: to B's and C's `simple`, and to a floating
  /// domain's `float-b` and `float-c`, whose endpoints run in B and C. In B the local endpoint
  /// and the floating one share the name `nse-b` (`nse-b`, `nse-b@F`). Each connection takes
  /// six hops through A's gateway and the gateway of the domain its endpoint runs in, keeps
  /// every hop across two token lifetimes, and Close empties every hop.
  @Test func aClientInAHoldsConnectionsIntoTwoDomainsAndAFloatingOne() async throws {
    let (a, b, c, f) = ("a.tri.nsm.test", "b.tri.nsm.test", "c.tri.nsm.test", "f.tri.nsm.test")
    let domains = try await TestDomains.start([a, b, c], floating: [f])
    let dns = domains.nsd.server.description
    try await ConnectSandbox.run(registryArguments: ["--domain", a, "--dns-server", dns]) { sandbox in
      var registries: [String: ServiceAddress] = [a: sandbox.registry]
      for (name, domain) in [("registry-b", b), ("registry-c", c), ("registry-f", f)] {
        registries[domain] = try await sandbox.registry(
          name,
          arguments: [
            "--domain", domain, "--listen", "tcp://127.0.0.1:\(domains[domain].registryPort)", "--dns-server", dns,
          ]
        )
      }
      for (domain, services) in [(b, ["simple"]), (c, ["simple"]), (f, ["float-b", "float-c"])] {
        for service in services {
          let applied = try await NSMProcess.run(
            ["apply", "-f", "-", "--registry", try #require(registries[domain]).description],
            stdin: Self.service(service)
          )
          #expect(applied.status == 0, "\(applied.stderr)")
        }
      }
      var gateways: [String: String] = [:]
      for (name, domain) in [("proxy-a", a), ("proxy-b", b), ("proxy-c", c)] {
        let url = try #require(domains[domain].gatewayURL)
        gateways[domain] = url
        _ = try await sandbox.proxy(
          name,
          domain: domain,
          registry: try #require(registries[domain]),
          listen: url,
          arguments: ["--dns-server", dns]
        )
      }
      let managerA = try await sandbox.manager(
        "mgr-a",
        node: "node-a",
        arguments: ["--proxy-url", try #require(gateways[a])]
      )
      let managerB = try await sandbox.manager("mgr-b", node: "node-b", registry: registries[b])
      let managerC = try await sandbox.manager("mgr-c", node: "node-c", registry: registries[c])
      _ = try await sandbox.endpoint("nse-b", manager: managerB, services: ["simple"], cidr: "10.160.0.0/24")
      _ = try await sandbox.endpoint("nse-c", manager: managerC, services: ["simple"], cidr: "10.161.0.0/24")
      _ = try await sandbox.endpoint("nse-b@\(f)", manager: managerB, services: ["float-b@\(f)"], cidr: "10.162.0.0/24")
      _ = try await sandbox.endpoint("nse-c@\(f)", manager: managerC, services: ["float-c@\(f)"], cidr: "10.163.0.0/24")

      let services = ["simple@\(b)", "simple@\(c)", "float-b@\(f)", "float-c@\(f)"]
      let client = try sandbox.client(
        "nsc-a",
        manager: managerA,
        services: services,
        arguments: ["--max-token-lifetime", "3s"]
      )
      var lines = ConnectionLines(client)
      var connections: [String: Connection_Connection] = [:]
      while connections.count < services.count {
        let connection = try await lines.next()
        connections[connection.networkService] = connection
      }
      let expected: [String: [String]] = [
        "simple@\(b)": ["nsc-a", "mgr-a", "proxy-a", "proxy-b", "mgr-b", "nse-b"],
        "simple@\(c)": ["nsc-a", "mgr-a", "proxy-a", "proxy-c", "mgr-c", "nse-c"],
        "float-b@\(f)": ["nsc-a", "mgr-a", "proxy-a", "proxy-b", "mgr-b", "nse-b@\(f)"],
        "float-c@\(f)": ["nsc-a", "mgr-a", "proxy-a", "proxy-c", "mgr-c", "nse-c@\(f)"],
      ]
      for (service, hops) in expected {
        #expect(connections[service]?.hops == hops, "\(service)")
      }
      #expect(connections["simple@\(b)"]?.clientAddress?.hasPrefix("10.160.0.") == true)
      #expect(connections["float-b@\(f)"]?.clientAddress?.hasPrefix("10.162.0.") == true)
      #expect(connections["float-c@\(f)"]?.networkServiceEndpointName == "nse-c@\(f)")

      // Two token lifetimes later every hop still holds its connections (refreshes passed).
      try await Task.sleep(for: .seconds(6))
      let hops: [(String, Int)] = [
        (managerA.url.description, 4), (try #require(gateways[a]), 4), (try #require(gateways[b]), 2),
        (try #require(gateways[c]), 2), (managerB.url.description, 2), (managerC.url.description, 2),
      ]
      for (hop, count) in hops {
        let listing = try await NSMProcess.run(["get", "connections", "--manager", hop, "-o", "json"])
        #expect(listing.status == 0, "\(hop): \(listing.stderr)")
        #expect(listing.stdout.split(separator: "\n").count == count, "\(hop) holds: \(listing.stdout)")
      }

      client.signal(SIGTERM)
      #expect(await client.waitForExit() == 0)
      for (hop, _) in hops {
        let listing = try await NSMProcess.run(["get", "connections", "--manager", hop, "-o", "json"])
        #expect(listing.status == 0 && listing.stdout.isEmpty, "\(hop) holds nothing: \(listing.stdout)")
      }
    }
  }
}
