import NSMAPI
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

@Suite("Graceful shutdown", .timeLimit(.minutes(1)))
struct ShutdownTests {
  @Test func openWatchEndsCleanlyOnShutdown() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Fixtures.endpoint("nse-1"))
        try await client.watch(Registry_NetworkServiceEndpoint()) { events in
          _ = try await events.expectNext()
          await registry.shutdown()
          // The stream ends with status OK: no error, no more messages.
          #expect(try await events.next() == nil)
        }
      }
    }
  }
}
