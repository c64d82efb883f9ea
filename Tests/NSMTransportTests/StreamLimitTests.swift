import Foundation
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// Calls open at once on one connection. The server advertises its limit
/// (SETTINGS_MAX_CONCURRENT_STREAMS); without it a client's 101st stream ended the connection
/// with GOAWAY PROTOCOL_ERROR, and every stream on it.
@Suite("transport: concurrent streams")
struct StreamLimitTests {
  @Test func aGRPCGoClientWith150WatchesOnOneConnectionIsServed() async throws {
    try await TestRegistry.run { registry in
      _ = try await registry.withClient { try await $0.register(Fixtures.endpoint("nse-1")) }
      let result = try await GRPCGoProbe.run(
        "watches",
        [
          "-addr", "127.0.0.1:\(try port(of: registry.address))", "-n", "150", "-expect", "1",
          "-method", findMethod, "-request", try findRequest("nse-1", watch: true),
        ]
      )
      #expect(result["served"] as? Int == 150, "\(result)")
      #expect((result["errors"] as? [String: Int])?.isEmpty == true, "\(result)")
    }
  }

  /// Beyond the advertised limit a client waits for a free stream; nothing is torn down.
  @Test func streamsBeyondTheAdvertisedLimitWaitAndTheOthersLive() async throws {
    try await TestRegistry.run { configuration in
      configuration.limits.maxConcurrentStreams = 10
    } _: { registry in
      _ = try await registry.withClient { try await $0.register(Fixtures.endpoint("nse-1")) }
      let result = try await GRPCGoProbe.run(
        "watches",
        [
          "-addr", "127.0.0.1:\(try port(of: registry.address))", "-n", "15", "-expect", "1", "-stop-at", "10",
          "-method", findMethod, "-request", try findRequest("nse-1", watch: true),
          // Once SETTINGS are exchanged: until then a client may assume no limit.
          "-warmup", try findRequest("nse-1"),
        ]
      )
      #expect(result["served"] as? Int == 10, "\(result)")
      // The five that waited end when the probe stops waiting, not with a connection error.
      let errors = result["errors"] as? [String: Int] ?? [:]
      #expect(errors.keys.allSatisfy { $0.hasPrefix("Canceled") }, "\(errors)")
    }
  }
}
