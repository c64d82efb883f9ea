import Foundation
import NSMAPI
import NSMCore
import NSMRegistry
import NSMSecurity
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// `nsm cert`, `nsm policy check`, and the registry and operator commands under mTLS.
@Suite("nsm cert / policy / mTLS", .timeLimit(.minutes(2)))
struct SecurityCommandTests {
  func temporaryFolder() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("nsm-cli-\(UUID().uuidString.prefix(8))").path
  }

  @Test func certWritesSpireAgentsLayoutAndTheRegistryServesWithIt() async throws {
    let folder = temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let made = try await NSMProcess.run([
      "cert", "--out", folder, "--svid", "spiffe://nsm.a/registry", "--svid", "spiffe://nsm.a/ns/default/pod/admin",
      "--svid", "spiffe://nsm.b/registry",
    ])
    #expect(made.status == 0, "\(made.stderr)")
    for file in ["svid.0.pem", "svid.0.key", "bundle.0.pem", "federated_bundle.0.0.pem"] {
      #expect(FileManager.default.fileExists(atPath: "\(folder)/nsm.a/registry/\(file)"), "\(file)")
    }
    let svid = try SVID.load(.directory("\(folder)/nsm.a/registry"))
    #expect(svid.id.description == "spiffe://nsm.a/registry")
    #expect(svid.trustRoots.count == 2)

    // A second run keeps the CAs: earlier SVIDs stay valid.
    let again = try await NSMProcess.run(["cert", "--out", folder, "--svid", "spiffe://nsm.a/ns/default/pod/other"])
    #expect(again.status == 0)
    #expect(try SVID.load(.directory("\(folder)/nsm.a/ns/default/pod/other")).trustRoots.contains(svid.trustRoots[0]))

    let registry = try NSMProcess.Running([
      "registry", "--listen", "tcp://127.0.0.1:0", "--domain", "a.nsm.test", "--tls-dir", "\(folder)/nsm.a/registry",
    ])
    let url = try await registry.registryAddress().description
    let admin = ["--registry", url, "--tls-dir", "\(folder)/nsm.a/ns/default/pod/admin"]
    let applied = try await NSMProcess.run(
      ["apply", "-f", "-"] + admin,
      stdin: """
        apiVersion: networkservicemesh.io/v1
        kind: NetworkService
        metadata: {name: secure}
        spec: {payload: IP}
        """
    )
    #expect(applied.status == 0, "\(applied.stderr)")
    let listed = try await NSMProcess.run(["get", "ns", "secure", "-o", "yaml"] + admin)
    #expect(listed.stdout.contains("- spiffe://nsm.a/ns/default/pod/admin"), "path_ids: \(listed.stdout)")

    // Another trust domain is trusted at TLS, but the default policy is the own trust domain only.
    let partner = try await NSMProcess.run(["get", "ns", "--registry", url, "--tls-dir", "\(folder)/nsm.b/registry"])
    #expect(partner.status != 0)
    #expect(partner.stderr.contains("PERMISSION_DENIED"), "\(partner.stderr)")
    // Plaintext is refused.
    let plaintext = try await NSMProcess.run(["get", "ns", "--registry", url, "--insecure"])
    #expect(plaintext.status != 0)
    registry.signal(SIGTERM)
    #expect(await registry.waitForExit() == 0)
  }

  @Test func theRegistryWantsAnIdentityOrInsecure() async throws {
    let result = try await NSMProcess.run(["registry"], environment: ["NSM_INSECURE": ""])
    #expect(result.status != 0)
    #expect(result.stderr.contains("--tls-dir"), "\(result.stderr)")
    let both = try await NSMProcess.run(["registry", "--insecure", "--tls-dir", "/nonexistent"])
    #expect(both.stderr.contains("exclude each other"))
    let missing = try await NSMProcess.run(["registry", "--tls-dir", "/nonexistent"])
    #expect(missing.status != 0)
    #expect(missing.stderr.contains("NSM_TLS_"), "\(missing.stderr)")
  }

  /// SVID files that cannot be read say why (they used to load as empty and fail later with
  /// "no trust bundle").
  @Test func unreadableSVIDFilesSayWhy() async throws {
    let missing = try await NSMProcess.run(["registry", "--tls-dir", "/nonexistent"])
    #expect(missing.stderr.contains("cannot list the SVID folder /nonexistent"), "\(missing.stderr)")
    let folder = temporaryFolder()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    _ = try await NSMProcess.run(["cert", "--out", folder, "--svid", "spiffe://nsm.a/registry"])
    try FileManager.default.removeItem(atPath: "\(folder)/nsm.a/registry/svid.0.key")
    let keyless = try await NSMProcess.run(["registry", "--tls-dir", "\(folder)/nsm.a/registry"])
    #expect(keyless.status != 0)
    #expect(keyless.stderr.contains("cannot read the SVID key"), "\(keyless.stderr)")
  }

  @Test func policyCheckExplainsDecisions() async throws {
    let folder = temporaryFolder()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let file = "\(folder)/policy.yaml"
    try """
    domains:
      a.nsm.test:
        - identities: ["spiffe://nsm.b/*"]
          operations: [find]
          names: ["public-*"]
    forward_to: ["b.nsm.test"]
    accept_forwarded_from: ["spiffe://nsm.b/registry"]
    """.write(toFile: file, atomically: true, encoding: .utf8)
    let common = ["policy", "check", "--policy", file, "--domain", "a.nsm.test"]
    let allowed = try await NSMProcess.run(
      common + ["--identity", "spiffe://nsm.b/x", "--op", "find", "--name", "public-vpn@a.nsm.test"]
    )
    #expect(allowed.status == 0)
    #expect(allowed.stdout.hasPrefix("allowed:"))
    let denied = try await NSMProcess.run(
      common + ["--identity", "spiffe://nsm.b/x", "--op", "register", "--name", "public-vpn"]
    )
    #expect(denied.status == 1)
    #expect(denied.stdout.contains("denied: policy domain_policy denies spiffe://nsm.b/x"))
    let forward = try await NSMProcess.run(
      common + ["--identity", "spiffe://nsm.a/x", "--op", "find", "--name", "x@c.nsm.test"]
    )
    #expect(forward.status == 1)
    #expect(forward.stdout.contains("forward_to"))
    let forwarded = try await NSMProcess.run(
      common + [
        "--identity", "spiffe://nsm.b/x", "--op", "find", "--name", "public-1", "--forwarded-by",
        "spiffe://nsm.c/registry",
      ]
    )
    #expect(forwarded.status == 1)
    #expect(forwarded.stdout.contains("accept_forwarded_from"))
    let defaults = try await NSMProcess.run([
      "policy", "check", "--trust-domain", "nsm.a", "--identity", "spiffe://nsm.a/x", "--op", "unregister", "--name",
      "n",
    ])
    #expect(defaults.status == 0, "\(defaults.stdout) \(defaults.stderr)")
  }

  @Test func policyConnectExplainsGatewayDecisions() async throws {
    let folder = temporaryFolder()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let file = "\(folder)/policy.yaml"
    try """
    gateway:
      accept_from: ["spiffe://nsm.b/proxy"]
      inbound: [{identities: ["spiffe://nsm.b/*"], services: [simple]}]
      outbound: [{identities: ["spiffe://nsm.a/nsc-*"], services: ["*@b.nsm.test"]}]
    """.write(toFile: file, atomically: true, encoding: .utf8)
    let common = ["policy", "connect", "--policy", file]
    let inbound = try await NSMProcess.run(
      common + ["--client", "spiffe://nsm.b/nsc-1", "--service", "simple", "--from-gateway", "spiffe://nsm.b/proxy"]
    )
    #expect(inbound.status == 0, "\(inbound.stdout) \(inbound.stderr)")
    #expect(inbound.stdout.hasPrefix("allowed:"))
    let secret = try await NSMProcess.run(
      common + ["--client", "spiffe://nsm.b/nsc-1", "--service", "secret", "--from-gateway", "spiffe://nsm.b/proxy"]
    )
    #expect(secret.status == 1)
    #expect(secret.stdout.contains("denied: policy gateway_inbound denies spiffe://nsm.b/nsc-1"), "\(secret.stdout)")
    let stranger = try await NSMProcess.run(
      common + ["--client", "spiffe://nsm.c/nsc-1", "--service", "simple", "--from-gateway", "spiffe://nsm.c/proxy"]
    )
    #expect(stranger.stdout.contains("policy gateway_peer"), "\(stranger.stdout)")
    let out = try await NSMProcess.run(common + ["--client", "spiffe://nsm.a/nsc-1", "--service", "simple@b.nsm.test"])
    #expect(out.status == 0, "\(out.stdout) \(out.stderr)")
    let elsewhere = try await NSMProcess.run(
      common + ["--client", "spiffe://nsm.a/nsc-1", "--service", "simple@c.nsm.test"]
    )
    #expect(elsewhere.status == 1)
    #expect(elsewhere.stdout.contains("policy gateway_outbound"), "\(elsewhere.stdout)")
    let unqualified = try await NSMProcess.run(common + ["--client", "spiffe://nsm.a/nsc-1", "--service", "simple"])
    #expect(unqualified.status != 0)
    #expect(unqualified.stderr.contains("NAME@DOMAIN"), "\(unqualified.stderr)")
  }
}
