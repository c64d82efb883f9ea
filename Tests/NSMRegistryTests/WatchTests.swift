import GRPCCore
import NSMAPI
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Synchronization
import Testing

// A limit against hangs, not a timing claim: the stalled-watcher test's 1,000 registrations take
// about 6 s alone but 48-55 s at the start of the whole suite on two cores.
@Suite("Find with watch", .timeLimit(.minutes(3)))
struct WatchTests {
  @Test func initialStateThenUpdatesThenDeletes() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Fixtures.endpoint("nse-1", services: ["ns-a"]))
        _ = try await client.register(Fixtures.endpoint("other", services: ["ns-b"]))

        try await client.watch(Fixtures.endpoint("", services: ["ns-a"], url: "")) { events in
          let initial = try await events.expectNext()
          #expect(initial.networkServiceEndpoint.name == "nse-1")
          #expect(!initial.deleted)

          // Changes to non-matching records are not sent.
          _ = try await client.register(Fixtures.endpoint("other", services: ["ns-b"], url: "tcp://x:1"))
          _ = try await client.register(Fixtures.endpoint("nse-2", services: ["ns-a"]))
          let added = try await events.expectNext()
          #expect(added.networkServiceEndpoint.name == "nse-2")
          #expect(!added.deleted)

          _ = try await client.register(Fixtures.endpoint("nse-1", services: ["ns-a"], url: "tcp://10.9.9.9:1"))
          let updated = try await events.expectNext()
          #expect(updated.networkServiceEndpoint.name == "nse-1")
          #expect(updated.networkServiceEndpoint.url == "tcp://10.9.9.9:1")

          try await client.unregister(Fixtures.endpoint("nse-2"))
          let deleted = try await events.expectNext()
          #expect(deleted.networkServiceEndpoint.name == "nse-2")
          #expect(deleted.deleted)
        }
      }
    }
  }

  @Test func networkServiceWatch() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Fixtures.service("ns-1"))
        try await client.watch(Registry_NetworkService()) { events in
          #expect(try await events.expectNext().networkService.name == "ns-1")
          _ = try await client.register(Fixtures.service("ns-2"))
          #expect(try await events.expectNext().networkService.name == "ns-2")
          try await client.unregister(Fixtures.service("ns-1"))
          let deleted = try await events.expectNext()
          #expect(deleted.networkService.name == "ns-1" && deleted.deleted)
        }
      }
    }
  }

  @Test func expiryReachesWatchersAsADelete() async throws {
    try await TestRegistry.run { configuration in
      configuration.expirePeriod = .milliseconds(300)
      configuration.reapInterval = .milliseconds(20)
    } _: { registry in
      try await registry.withClient { client in
        try await client.watch(Registry_NetworkServiceEndpoint()) { events in
          _ = try await client.register(Fixtures.endpoint("nse-1"))
          let added = try await events.expectNext()
          #expect(!added.deleted)
          let expired = try await events.expectNext()
          #expect(expired.networkServiceEndpoint.name == "nse-1")
          #expect(expired.deleted)
          #expect(try await client.find(Registry_NetworkServiceEndpoint()).isEmpty)
        }
      }
    }
  }

  @Test func twoConcurrentWatchersSeeTheSameEventsInOrder() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        try await client.watch(Registry_NetworkServiceEndpoint()) { first in
          try await client.watch(Registry_NetworkServiceEndpoint()) { second in
            #expect(await eventually { registry.endpoints.watcherCount == 2 })
            for i in 0..<20 { _ = try await client.register(Fixtures.endpoint("nse-\(i)")) }
            try await client.unregister(Fixtures.endpoint("nse-3"))
            var seen: [[String]] = [[], []]
            for _ in 0..<21 {
              let a = try await first.expectNext()
              let b = try await second.expectNext()
              seen[0].append((a.deleted ? "-" : "+") + a.networkServiceEndpoint.name)
              seen[1].append((b.deleted ? "-" : "+") + b.networkServiceEndpoint.name)
            }
            let expected = (0..<20).map { "+nse-\($0)" } + ["-nse-3"]
            #expect(seen[0] == expected)
            #expect(seen[1] == expected)
          }
        }
      }
    }
  }

  @Test func cancellingAWatchFreesItsSubscription() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Fixtures.endpoint("nse-1"))
        try await client.watch(Registry_NetworkServiceEndpoint()) { events in
          _ = try await events.expectNext()
          #expect(registry.endpoints.watcherCount == 1)
          #expect(registry.server.openStreamCount == 1)
        }
        // The client cancelled when the closure returned.
        #expect(await eventually { registry.endpoints.watcherCount == 0 })
        #expect(await eventually { registry.server.openStreamCount == 0 })
        // Writers are unaffected by the cancelled watch.
        _ = try await client.register(Fixtures.endpoint("nse-2"))
      }
    }
  }

  /// A watcher that stops reading must not hold up writers or other watchers; once its buffer
  /// overflows its stream ends with RESOURCE_EXHAUSTED after the events it had buffered.
  @Test func stalledWatcherDoesNotDelayOthersAndEndsWithResourceExhausted() async throws {
    let total = 1000
    try await TestRegistry.run { configuration in
      configuration.watchBufferSize = 16
    } _: { registry in
      // The stalled client advertises the smallest HTTP/2 window, so the server's writes to it
      // block soon and its watch buffer fills.
      try await registry.withClient(configure: { $0.http2.targetWindowSize = 65535 }) { stalledClient in
        try await registry.withClient { client in
          let gate = AsyncStream<Void>.makeStream()
          let outcome = StalledOutcome()
          let request = Registry_NetworkServiceEndpointQuery.with { $0.watch = true }
          try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
              try await stalledClient.endpoints.find(request) { response in
                for await _ in gate.stream { break }  // stalled until the gate opens
                do {
                  for try await _ in response.messages { outcome.state.withLock { $0.received += 1 } }
                } catch let error as RPCError {
                  outcome.state.withLock { $0.error = error }
                }
              }
            }
            #expect(await eventually { registry.endpoints.watcherCount == 1 })

            try await client.watch(Registry_NetworkServiceEndpoint()) { fast in
              #expect(await eventually { registry.endpoints.watcherCount == 2 })
              for i in 0..<total {
                _ = try await client.register(Fixtures.endpoint("nse-\(i)", url: String(repeating: "u", count: 200)))
              }
              for i in 0..<total {
                #expect(try await fast.expectNext().networkServiceEndpoint.name == "nse-\(i)")
              }
            }
            #expect(await eventually { registry.endpoints.watcherCount == 0 }, "the overflowed watch was dropped")
            gate.continuation.yield()
            gate.continuation.finish()
            try await group.waitForAll()
          }
          let (received, error) = outcome.state.withLock { ($0.received, $0.error) }
          #expect(error?.code == .resourceExhausted)
          #expect(error?.message.contains("re-sync") == true)
          #expect(received < total, "the stalled watcher cannot have received everything")
          #expect(received >= 16, "it receives the events buffered before the overflow")
        }
      }
    }
  }
}

/// What the stalled watcher saw, written from its task and read by the test.
private final class StalledOutcome: Sendable {
  let state = Mutex<(received: Int, error: RPCError?)>((0, nil))
}
