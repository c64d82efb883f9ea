import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// The five NetworkService documents of the architecture document (`deploy/examples/`), each
/// demonstrated end to end: a registry, managers as nodes, `nsm endpoint`s and `nsm client`s,
/// all real processes over loopback.
@Suite("Seed documents, end to end", .serialized)
struct SeedDocumentTests {
  @Test func simpleNetworkService() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.applyExample("simple-network-service.yaml")
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint(
        "nse-1",
        manager: manager,
        services: ["simple-network-service"],
        cidr: "10.80.0.0/24"
      )
      let client = try sandbox.client("nsc-1", manager: manager, services: ["kernel://simple-network-service/nsm-1"])
      var lines = ConnectionLines(client)
      let connection = try await lines.next()
      #expect(connection.networkServiceEndpointName == "nse-1")
      #expect(connection.hops == ["nsc-1", "mgr-1", "nse-1"])
      #expect(connection.state == .up)
      #expect(connection.clientAddress?.hasPrefix("10.80.0.") == true)
      #expect(connection.context.ipContext.dstIpAddrs.first?.hasPrefix("10.80.0.") == true)
      #expect(connection.mechanism.type == "KERNEL")
      #expect(connection.mechanism.parameters["name"] == "nsm-1")
      #expect(connection.mechanism.parameters["inodeURL"] == "file:///proc/\(client.process.processIdentifier)/ns/net")
      #expect(connection.labels["nodeName"] == "node-1", "the manager adds its node (clientinfo)")
      #expect(connection.path.pathSegments.allSatisfy { $0.hasExpires })

      // SIGTERM: everything closed, exit 0, and the manager holds nothing afterwards.
      client.signal(SIGTERM)
      #expect(await client.waitForExit() == 0)
      let listing = try await NSMProcess.run(["get", "connections", "--manager", manager.url.description, "-o", "json"])
      #expect(listing.status == 0)
      #expect(listing.stdout.isEmpty, "\(listing.stdout)")
    }
  }

  @Test func compositionSendsClientsThroughTheEnvoyProxyToVL3() async throws {
    try await ConnectSandbox.run(registryArguments: ["--domain", "finance.example.com"]) { sandbox in
      try await sandbox.applyExample("composition.yaml")
      let service = "service-mesh@finance.example.com"
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint(
        "vl3",
        manager: manager,
        services: [service],
        labels: ["service": "vl3"],
        cidr: "10.81.0.0/24"
      )
      _ = try await sandbox.endpoint(
        "envoy",
        manager: manager,
        services: [service],
        labels: ["service": "envoy-proxy"],
        cidr: "10.82.0.0/24",
        arguments: ["--passthrough", service, "--next-labels", "service=envoy-proxy"]
      )
      let client = try sandbox.client("nsc-1", manager: manager, services: [service])
      var lines = ConnectionLines(client)
      let connection = try await lines.next()
      #expect(connection.networkServiceEndpointName == "envoy@finance.example.com")
      #expect(connection.hops == ["nsc-1", "mgr-1", "envoy", "mgr-1", "vl3"], "the path shows both endpoints")
      #expect(
        connection.clientAddress?.hasPrefix("10.81.0.") == true,
        "a middle box is a bump in the wire: the vL3 addresses the client"
      )

      // Closing the client closes the composed connection too.
      client.signal(SIGTERM)
      #expect(await client.waitForExit() == 0)
      let listing = try await NSMProcess.run(["get", "connections", "--manager", manager.url.description, "-o", "json"])
      #expect(listing.stdout.isEmpty, "\(listing.stdout)")
    }
  }

  @Test func selectiveCompositionInterposesTheIPSForFooV11Only() async throws {
    try await ConnectSandbox.run(registryArguments: ["--domain", "sales.example.com"]) { sandbox in
      try await sandbox.applyExample("selective-composition.yaml")
      let service = "secure-vl3@sales.example.com"
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint(
        "vl3",
        manager: manager,
        services: [service],
        labels: ["provides": "vl3"],
        cidr: "10.83.0.0/24"
      )
      _ = try await sandbox.endpoint(
        "ips",
        manager: manager,
        services: [service],
        labels: ["provides": "ips"],
        cidr: "10.84.0.0/24",
        arguments: ["--passthrough", service, "--next-labels", "provided=ips"]
      )
      let vulnerable = try sandbox.client(
        "foo-v11",
        manager: manager,
        services: [service],
        labels: ["app": "foo", "version": "v1.1"]
      )
      let fixed = try sandbox.client(
        "foo-v12",
        manager: manager,
        services: [service],
        labels: ["app": "foo", "version": "v1.2"]
      )
      let other = try sandbox.client("other", manager: manager, services: [service])
      var vulnerableLines = ConnectionLines(vulnerable)
      var fixedLines = ConnectionLines(fixed)
      var otherLines = ConnectionLines(other)
      #expect(try await vulnerableLines.next().hops == ["foo-v11", "mgr-1", "ips", "mgr-1", "vl3"])
      #expect(try await fixedLines.next().hops == ["foo-v12", "mgr-1", "vl3"])
      #expect(try await otherLines.next().hops == ["other", "mgr-1", "vl3"])
    }
  }

  @Test func topologyAwareSelectionKeepsEachClientOnItsNode() async throws {
    try await ConnectSandbox.run(registryArguments: ["--domain", "marketing.example.com"]) { sandbox in
      try await sandbox.applyExample("topology-aware-selection.yaml")
      let service = "local-vl3@marketing.example.com"
      let node1 = try await sandbox.manager("mgr-1", node: "node-1")
      let node2 = try await sandbox.manager("mgr-2", node: "node-2")
      // The endpoints carry no nodeName of their own: their manager adds it.
      _ = try await sandbox.endpoint("vl3-node-1", manager: node1, services: [service], cidr: "10.85.0.0/24")
      _ = try await sandbox.endpoint("vl3-node-2", manager: node2, services: [service], cidr: "10.86.0.0/24")
      for round in 1...3 {
        let client = try sandbox.client("nsc-\(round)", manager: node2, services: [service])
        var lines = ConnectionLines(client)
        let connection = try await lines.next()
        #expect(connection.networkServiceEndpointName == "vl3-node-2@marketing.example.com", "round \(round)")
        #expect(connection.hops == ["nsc-\(round)", "mgr-2", "vl3-node-2"])
        client.signal(SIGTERM)
        #expect(await client.waitForExit() == 0)
      }
      let onNode1 = try sandbox.client("nsc-n1", manager: node1, services: [service])
      var lines = ConnectionLines(onNode1)
      #expect(try await lines.next().networkServiceEndpointName == "vl3-node-1@marketing.example.com")
    }
  }

  @Test func scaleFromZeroStartsAnEndpointOnTheClientsNode() async throws {
    try await ConnectSandbox.run(registryArguments: ["--domain", "marketing.example.com"]) { sandbox in
      try await sandbox.applyExample("scale-from-zero.yaml")
      let service = "local-vl3@marketing.example.com"
      let node1 = try await sandbox.manager("mgr-node-1", node: "node-1")
      let node2 = try await sandbox.manager("mgr-node-2", node: "node-2")
      // The supplier runs on node 1 and starts endpoints on whichever node asks, through that
      // node's manager; they exit after 3 s without connections.
      let spawn = [
        NSMProcess.executable.path, "endpoint", "--name", "vl3-{{ .nodeName }}", "--service", service,
        "--connect-to", "unix://\(sandbox.folder)/mgr-{{ .nodeName }}.sock", "--cidr", "10.87.0.0/24",
        "--listen", "unix://\(sandbox.folder)/vl3-{{ .nodeName }}.sock", "--idle-timeout", "3s",
      ].joined(separator: " ")
      let supplier = try await sandbox.endpoint(
        "supplier",
        manager: node1,
        services: [service],
        labels: ["supplier": "true"],
        cidr: "10.88.0.0/24",
        arguments: ["--supplier", "--spawn", spawn]
      )
      let first = try sandbox.client("nsc-1", manager: node2, services: [service])
      var firstLines = ConnectionLines(first)
      let connection = try await firstLines.next()
      #expect(connection.networkServiceEndpointName == "vl3-node-2@marketing.example.com")
      #expect(connection.hops == ["nsc-1", "mgr-node-2", "vl3-node-2"])
      #expect(supplier.stderrCount("supplier started an endpoint") == 1)

      // A second client of node 2 reuses the endpoint the supplier started.
      let second = try sandbox.client("nsc-2", manager: node2, services: [service])
      var secondLines = ConnectionLines(second)
      #expect(try await secondLines.next().networkServiceEndpointName == "vl3-node-2@marketing.example.com")
      #expect(supplier.stderrCount("supplier started an endpoint") == 1)

      // Without connections it goes away by itself: it unregisters and exits.
      first.signal(SIGTERM)
      second.signal(SIGTERM)
      #expect(await first.waitForExit() == 0)
      #expect(await second.waitForExit() == 0)
      let registry = sandbox.registry.description
      #expect(
        try await eventually(within: .seconds(20)) {
          let listing = try await NSMProcess.run(["get", "nse", "--registry", registry])
          return !listing.stdout.contains("vl3-node-2")
        }
      )
    }
  }
}
