import Foundation
import NSMAPI
import NSMCore
import NSMSecurity
import NSMTesting
import Testing

/// Two domains, each its own SPIFFE trust domain (`nsm.a`, `nsm.b`), every process with mTLS,
/// and the gateways enforcing the `gateway:` section of their domain's policy file: the path
/// tokens chain across both trust domains, and a denial at either gateway is PERMISSION_DENIED
/// naming the rule and leaves nothing behind.
@Suite("Gateways over mTLS between two trust domains, with policy", .serialized)
struct GatewayPolicyChainTests {
  @Test func thePolicyAtEachGatewayDecidesWhatCrosses() async throws {
    let folder = "/tmp/nsm-gwp-" + String(UUID().uuidString.prefix(8)).lowercased()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let tag = "gw-policy"
    let b = "b.\(tag).nsm.test"
    let namesA = ["registry", "mgr-a", "proxy-a", "nsc-a", "nsc-in", "nsc-out", "admin"]
    let namesB = ["registry-b", "apply-b", "mgr-b", "proxy-b", "nse-b", "admin-b"]
    var command = ["cert", "--out", folder]
    for name in namesA { command += ["--svid", "spiffe://nsm.a/\(name)"] }
    for name in namesB { command += ["--svid", "spiffe://nsm.b/\(name)"] }
    let issued = try await NSMProcess.run(command)
    #expect(issued.status == 0, "\(issued.stderr)")

    // B: A's clients may find B's services, and A's gateway may bring nsc-a and nsc-out to
    // `simple`. A: nsc-a and nsc-in may leave for B's `simple`.
    let policyB = "\(folder)/policy-b.yaml"
    try """
    domains:
      \(b):
        - {identities: ["spiffe://nsm.b/*"], operations: [find, register, unregister]}
        - {identities: ["spiffe://nsm.a/*"], operations: [find]}
    accept_forwarded_from: ["spiffe://nsm.a/registry"]
    gateway:
      accept_from: ["spiffe://nsm.a/proxy-a"]
      inbound:
        - identities: ["spiffe://nsm.a/nsc-a", "spiffe://nsm.a/nsc-out"]
          services: [simple]
    """.write(toFile: policyB, atomically: true, encoding: .utf8)
    let policyA = "\(folder)/policy-a.yaml"
    try """
    gateway:
      outbound:
        - identities: ["spiffe://nsm.a/nsc-a", "spiffe://nsm.a/nsc-in"]
          services: ["simple@\(b)"]
    """.write(toFile: policyA, atomically: true, encoding: .utf8)

    try await TwoDomains.run(
      tag,
      certificates: folder,
      policies: ["registry-b": policyB, "proxy-b": policyB, "proxy-a": policyA]
    ) { domains in
      let (sandbox, managerA, managerB) = (domains.sandbox, domains.managerA, domains.managerB)
      try await domains.startGateway("a")
      try await domains.startGateway("b")
      _ = try await sandbox.endpoint("nse-b", manager: managerB, services: ["simple"], cidr: "10.153.0.0/24")

      var lines = ConnectionLines(try sandbox.client("nsc-a", manager: managerA, services: ["simple@\(b)"]))
      let connection = try await lines.next()
      #expect(connection.hops == ["nsc-a", "mgr-a", "proxy-a", "proxy-b", "mgr-b", "nse-b"])
      let subjects = try connection.path.pathSegments.map { try PathToken(decoding: $0.token).claims.sub }
      #expect(
        subjects == [
          "spiffe://nsm.a/nsc-a", "spiffe://nsm.a/mgr-a", "spiffe://nsm.a/proxy-a", "spiffe://nsm.b/proxy-b",
          "spiffe://nsm.b/mgr-b", "spiffe://nsm.b/nse-b",
        ]
      )

      func request(as name: String) async throws -> NSMProcess.Result {
        try await NSMProcess.run(
          [
            "client", "--name", name, "--connect-to", managerA.socket.description, "--network-service",
            "simple@\(b)", "--request-timeout", "3s",
          ] + sandbox.commonArguments(name)
        )
      }
      // Granted out of A, not into B.
      let inbound = try await request(as: "nsc-in")
      #expect(inbound.status == 1)
      #expect(inbound.stderr.contains("PERMISSION_DENIED"), "\(inbound.stderr)")
      #expect(
        inbound.stderr.contains("policy gateway_inbound denies spiffe://nsm.a/nsc-in"),
        "\(inbound.stderr)"
      )
      // Granted into B, not out of A.
      let outbound = try await request(as: "nsc-out")
      #expect(outbound.status == 1)
      #expect(
        outbound.stderr.contains("policy gateway_outbound denies spiffe://nsm.a/nsc-out"),
        "\(outbound.stderr)"
      )

      // Only nsc-a's connection is held anywhere.
      for (hop, admin) in [
        (managerA.url.description, "nsm.a/admin"), (domains.gatewayA, "nsm.a/admin"),
        (domains.gatewayB, "nsm.b/admin-b"), (managerB.url.description, "nsm.b/admin-b"),
      ] {
        let listing = try await NSMProcess.run([
          "get", "connections", "--manager", hop, "-o", "json", "--tls-dir", "\(folder)/\(admin)",
        ])
        #expect(listing.status == 0, "\(hop): \(listing.stderr)")
        #expect(listing.stdout.split(separator: "\n").count == 1, "\(hop) holds: \(listing.stdout)")
      }
      lines.process.signal(SIGTERM)
      #expect(await lines.process.waitForExit() == 0)
    }
  }
}
