import Foundation
import GRPCCore
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// What a hostile or careless client can do to a server of the project (every command's server
/// is a ``GRPCServerHost``; a registry is the one these tests run): each was reproduced against
/// `nsm registry` before the transport was hardened.
@Suite("transport: hostile clients")
struct HostileClientTests {
  /// grpc-swift traps on a negative `grpc-timeout`; the server must answer, not die.
  @Test(arguments: ["-1n", "-1S", "-99999M", "1x", "123456789S", ""])
  func aMalformedTimeoutIsRefusedAndTheServerLives(_ value: String) async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        let message = await expectStatus(.invalidArgument) {
          _ = try await client.endpoints.register(Fixtures.endpoint("nse-1"), metadata: ["grpc-timeout": "\(value)"])
        }
        #expect(message.contains("grpc-timeout"))
        #expect(registry.endpoints.count == 0, "a refused call changes nothing")
        // Same connection, same process: still serving.
        _ = try await client.register(Fixtures.endpoint("nse-1"))
        #expect(registry.endpoints.count == 1)
      }
    }
  }

  @Test func aNegativeTimeoutFromAnAuthenticatedWorkloadIsRefusedToo() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a"])
    try await TestRegistry.run { configuration in
      configuration.security.identity = try? pki.identity("spiffe://nsm.a/registry")
    } _: { registry in
      let workload = try pki.identity("spiffe://nsm.a/ns/default/pod/nse")
      try await RegistryClient.with(address: registry.address, identity: workload) { client in
        await expectStatus(.invalidArgument) {
          _ = try await client.endpoints.find(
            Registry_NetworkServiceEndpointQuery(),
            metadata: ["grpc-timeout": "-1n"]
          ) { try await $0.messages.reduce(0) { n, _ in n + 1 } }
        }
        let found = try await client.find(Registry_NetworkServiceEndpoint())
        #expect(found.isEmpty)
      }
    }
  }

  /// A request message over the limit gets RESOURCE_EXHAUSTED on that call alone: the
  /// transport by itself resets the stream, which grpc-go and grpcio report as CANCELLED.
  @Test func anOversizedRequestIsRefusedWithAStatusForAGRPCGoClientToo() async throws {
    try await TestRegistry.run { configuration in
      configuration.maxRequestBytes = 64 * 1024
    } _: { registry in
      let huge = try GRPCGoProbe.requestFile(
        try Fixtures.endpoint("nse-1", url: String(repeating: "u", count: 200 * 1024)).serializedBytes()
      )
      let result = try await GRPCGoProbe.run(
        "call",
        [
          "-addr", "127.0.0.1:\(try port(of: registry.address))",
          "-method", "/registry.NetworkServiceEndpointRegistry/Register", "-request", huge,
          "-watch-method", findMethod, "-watch-request", try findRequest("", watch: true),
        ]
      )
      #expect((result["call"] as? String)?.hasPrefix("ResourceExhausted") == true, "\(result)")
      #expect(result["watch_after"] as? String == "open", "the connection's other calls go on: \(result)")
      #expect(registry.endpoints.count == 0)
    }
  }

  /// Metadata over the 16 KiB header list the server advertises: grpc-go refuses that call
  /// itself (it honours SETTINGS_MAX_HEADER_LIST_SIZE), and so do our clients; the connection
  /// and its other calls stay.
  @Test func metadataOverTheHeaderLimitFailsThatCallOnly() async throws {
    try await TestRegistry.run { registry in
      let result = try await GRPCGoProbe.run(
        "call",
        [
          "-addr", "127.0.0.1:\(try port(of: registry.address))",
          "-method", "/registry.NetworkServiceEndpointRegistry/Register",
          "-request", try GRPCGoProbe.requestFile(try Fixtures.endpoint("nse-1").serializedBytes()),
          "-metadata-bytes", "20000",
          "-watch-method", findMethod, "-watch-request", try findRequest("", watch: true),
        ]
      )
      #expect((result["call"] as? String)?.hasPrefix("OK") == false, "\(result)")
      #expect(result["watch_after"] as? String == "open", "\(result)")

      try await registry.withClient { client in
        try await client.watch(Registry_NetworkServiceEndpoint()) { watch in
          let message = await expectStatus(.resourceExhausted) {
            _ = try await client.endpoints.register(
              Fixtures.endpoint("nse-1"),
              metadata: ["x-padding": "\(String(repeating: "p", count: 20000))"]
            )
          }
          #expect(message.contains("16 KiB"))
          // The watch on the same connection still delivers.
          _ = try await client.register(Fixtures.endpoint("nse-2"))
          let event = try #require(try await watch.next())
          #expect(event.networkServiceEndpoint.name == "nse-2")
        }
      }
      #expect(registry.endpoints.count == 1)
    }
  }

  /// A grpc-go client under load (8 connections, closed loop) sends flow-control (BDP) PINGs
  /// with the data it receives; gRPC's default ping policy would count them as abuse and end
  /// each connection with GOAWAY ENHANCE_YOUR_CALM.
  @Test func aLoadedGRPCGoClientKeepsItsConnections() async throws {
    try await TestRegistry.run { registry in
      _ = try await registry.withClient { try await $0.register(Fixtures.endpoint("nse-1")) }
      let result = try await GRPCGoProbe.run(
        "load",
        [
          // Closed loop on every connection, kept short: the rest of the suite shares the cores.
          "-addr", "127.0.0.1:\(try port(of: registry.address))", "-conns", "8", "-concurrency", "2",
          "-duration", "2s", "-method", findMethod, "-request", try findRequest("nse-1"),
        ]
      )
      let outcomes = try #require(result["outcomes"] as? [String: Int])
      #expect(outcomes.keys.sorted() == ["OK"], "\(outcomes)")
      #expect((result["calls"] as? Int ?? 0) > 0)
    }
  }
}
