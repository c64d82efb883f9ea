import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// Upstream's `Test_Interdomain_PassThroughUsecase` with real processes: five domains in a
/// row, each with its registry, gateway and manager. The endpoint of domain i (i ≥ 1) is a
/// middle box that requests `svc-(i-1)@d(i-1)` for each connection it answers; a client in d4
/// asks for `svc-3@d3` and its one connection crosses four pairs of gateways to d0's endpoint.
@Suite("A connection through five domains", .serialized)
struct PassThroughDomainsTests {
  static func domain(_ index: Int) -> String { "d\(index).pass.nsm.test" }

  @Test func aClientInD4ReachesD0ThroughThreeMiddleBoxesInThreeDomains() async throws {
    let names = (0..<5).map(Self.domain)
    let domains = try await TestDomains.start(names)
    let dns = domains.nsd.server.description
    // The sandbox's own registry stays unused: each domain's is at the port DNS publishes.
    try await ConnectSandbox.run { sandbox in
      var registries: [ServiceAddress] = []
      for index in 0..<5 {
        registries.append(
          try await sandbox.registry(
            "registry-\(index)",
            arguments: [
              "--domain", names[index], "--listen", "tcp://127.0.0.1:\(domains[names[index]].registryPort)",
              "--dns-server", dns,
            ]
          )
        )
      }
      var managers: [ConnectSandbox.Manager] = []
      for index in 0..<5 {
        let gateway = try #require(domains[names[index]].gatewayURL)
        _ = try await sandbox.proxy(
          "proxy-\(index)",
          domain: names[index],
          registry: registries[index],
          listen: gateway,
          arguments: ["--dns-server", dns]
        )
        managers.append(
          try await sandbox.manager(
            "mgr-\(index)",
            node: "node-\(index)",
            registry: registries[index],
            arguments: ["--proxy-url", gateway]
          )
        )
        if index < 4 {
          let applied = try await NSMProcess.run(
            ["apply", "-f", "-", "--registry", registries[index].description],
            stdin:
              "{apiVersion: networkservicemesh.io/v1, kind: NetworkService, metadata: {name: svc-\(index)}, spec: {payload: IP}}"
          )
          #expect(applied.status == 0, "\(applied.stderr)")
          _ = try await sandbox.endpoint(
            "nse-\(index)",
            manager: managers[index],
            services: ["svc-\(index)"],
            cidr: "10.17\(index).0.0/24",
            arguments: index == 0 ? [] : ["--passthrough", "svc-\(index - 1)@\(names[index - 1])"]
          )
        }
      }

      var lines = ConnectionLines(
        try sandbox.client("nsc-4", manager: managers[4], services: ["svc-3@\(names[3])"])
      )
      let connection = try await lines.next()
      // Per crossing: manager, both gateways, the next domain's manager and its endpoint.
      var expected = ["nsc-4", "mgr-4", "proxy-4", "proxy-3", "mgr-3", "nse-3"]
      for index in stride(from: 2, through: 0, by: -1) {
        expected += ["mgr-\(index + 1)", "proxy-\(index + 1)", "proxy-\(index)", "mgr-\(index)", "nse-\(index)"]
      }
      #expect(connection.hops == expected)
      #expect(connection.hops.count == 21)
      // A middle box hands out no addresses: the client's come from d0's endpoint.
      #expect(connection.clientAddress?.hasPrefix("10.170.0.") == true, "\(connection.context.ipContext)")

      lines.process.signal(SIGTERM)
      #expect(await lines.process.waitForExit() == 0)
      for manager in managers {
        let listing = try await NSMProcess.run([
          "get", "connections", "--manager", manager.url.description, "-o", "json",
        ])
        #expect(listing.status == 0 && listing.stdout.isEmpty, "\(manager.name) holds nothing: \(listing.stdout)")
      }
    }
  }
}
