import Foundation
import GRPCCore
import Logging
import NSMAPI
import NSMAPIGRPC
import NSMConnect
import NSMCore
import NSMSecurity
import NSMTesting
import NSMTransport
import Testing

/// The whole chain over mTLS with SVIDs from `nsm cert`: every hop signs its path token, checks
/// the path it is given (upstream's default policies), and a workload of a trust domain nobody
/// trusts does not get in.
@Suite("Network Service API over mTLS", .serialized)
struct MTLSChainTests {
  @Test func everyHopSignsAndChecksThePathAndStrangersAreRefused() async throws {
    let folder = "/tmp/nsm-certs-" + String(UUID().uuidString.prefix(8))
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let names = ["registry", "apply", "admin", "mgr-1", "nse-1", "nsc-1"]
    var command = ["cert", "--out", folder]
    for name in names { command += ["--svid", "spiffe://nsm.a/\(name)"] }
    let issued = try await NSMProcess.run(command)
    #expect(issued.status == 0, "\(issued.stderr)")
    let strangers = "\(folder)-strangers"
    defer { try? FileManager.default.removeItem(atPath: strangers) }
    #expect(try await NSMProcess.run(["cert", "--out", strangers, "--svid", "spiffe://nsm.x/nsc-x"]).status == 0)

    try await ConnectSandbox.run(commonArguments: { ["--tls-dir", "\(folder)/nsm.a/\($0)"] }) { sandbox in
      try await sandbox.apply(
        """
        apiVersion: networkservicemesh.io/v1
        kind: NetworkService
        metadata: {name: secure}
        spec: {payload: IP}
        """
      )
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint("nse-1", manager: manager, services: ["secure"], cidr: "10.99.0.0/24")
      let client = try sandbox.client("nsc-1", manager: manager, services: ["secure"])
      var lines = ConnectionLines(client)
      let connection = try await lines.next()
      #expect(connection.hops == ["nsc-1", "mgr-1", "nse-1"])
      let tokens = try connection.path.pathSegments.map { try PathToken(decoding: $0.token) }
      #expect(tokens.map(\.claims.sub) == ["spiffe://nsm.a/nsc-1", "spiffe://nsm.a/mgr-1", "spiffe://nsm.a/nse-1"])
      #expect(tokens[0].claims.aud == ["spiffe://nsm.a/mgr-1"], "each token is for the hop after it")
      #expect(tokens[1].claims.aud == ["spiffe://nsm.a/nse-1"])

      // A trusted workload that presents no token of its own is denied by the token rules.
      let identity = try WorkloadIdentity(files: try .directory("\(folder)/nsm.a/nsc-1"), logger: Logger(label: "test"))
      let denied: RPCError? = try await ClientFactory(identity: identity).with(address: manager.url) { grpc in
        var request = Networkservice_NetworkServiceRequest()
        request.connection.id = "forged"
        request.connection.networkService = "secure"
        request.connection.path.pathSegments = [
          .with {
            $0.name = "nsc-forged"
            $0.id = "forged"
            $0.expires = .init(date: Date().addingTimeInterval(60))
          }
        ]
        request.mechanismPreferences = [Mechanisms.kernel(interface: nil, inodeURL: nil)]
        do {
          _ = try await Networkservice_NetworkService.Client(wrapping: grpc).request(request)
          return nil
        } catch {
          return error as? RPCError
        }
      }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message.contains("tokens_valid") == true, "\(denied?.message ?? "")")

      // A workload whose certificate no one here trusts fails the handshake.
      let stranger = try await NSMProcess.run([
        "client", "--connect-to", manager.socket.description, "--network-service", "secure", "--request-timeout", "2s",
        "--tls-dir", "\(strangers)/nsm.x/nsc-x",
      ])
      #expect(stranger.status == 1)
      #expect(stranger.stderr.contains("UNAVAILABLE"), "\(stranger.stderr)")

      // The manager holds only the client's connection, and lists it to an operator with an SVID.
      let listing = try await NSMProcess.run([
        "get", "connections", "--manager", manager.url.description, "-o", "json", "--tls-dir", "\(folder)/nsm.a/admin",
      ])
      #expect(listing.status == 0, "\(listing.stderr)")
      #expect(listing.stdout.split(separator: "\n").count == 1)
    }
  }
}
