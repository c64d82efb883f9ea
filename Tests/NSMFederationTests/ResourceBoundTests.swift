import Foundation
import GRPCCore
import NSMAPI
import NSMCore
import NSMDNS
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// What a caller can make a registry hold by naming other domains: bounded, whatever it names.
@Suite("federation: bounded resources", .timeLimit(.minutes(3)))
struct ResourceBoundTests {
  static let a = "a.bound.test"
  static let b = "b.bound.test"

  /// 120 watches of B through A: B allows 100 calls per connection (and advertises it), so A's
  /// pool must open a second connection. With one connection, 20 watches were queued behind
  /// the others and received nothing, with no error.
  @Test func moreWatchesThanAPeerAllowsPerConnectionAreAllServed() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    try await withRegistry(domains, Self.a) { a in
      try await withRegistry(domains, Self.b, configure: { $0.limits.maxConcurrentStreams = 100 }) { b in
        _ = try await b.withClient { try await $0.register(Fixtures.endpoint("nse-1")) }
        let served = TestCounter()
        try await a.withClient { client in
          try await withThrowingTaskGroup(of: Void.self) { watches in
            for _ in 0..<120 {
              watches.addTask {
                try await client.watch(Registry_NetworkServiceEndpoint.with { $0.name = "nse-1@\(Self.b)" }) { events in
                  _ = try await events.next()
                  served.increment()
                  // Held open until every watch was served (or the test gave up).
                  _ = await eventually(within: .seconds(90)) { served.count == 120 }
                }
              }
            }
            try await watches.waitForAll()
          }
        }
        #expect(served.count == 120)
      }
      #expect(a.server.peers.connectionCount == 2, "a second connection to B")
    }
  }

  /// Distinct `x@random-domain` (NXDOMAIN, cached) and `x@127.0.0.1:N` (closed ports) names do
  /// not grow the DNS cache, the peer statistics or the peer pool past their bounds.
  @Test func distinctNamedDomainsCannotGrowTheRegistryWithoutBound() async throws {
    // nsd answers for the parent zone, so every random name gets a real (cacheable) NXDOMAIN.
    let domains = try await TestDomains.start([Self.a]) { _ in ["bound.test": ""] }
    var dns = DomainResolver.Configuration(servers: [domains.nsd.server])
    dns.maxCacheEntries = 30
    let resolver = DomainResolver(configuration: dns)
    try await withRegistry(domains, Self.a) {
      $0.federation.directory = resolver
      $0.peerStatisticsCapacity = 20
    } _: { a in
      try await a.withClient { client in
        for index in 0..<150 {
          _ = try? await client.find(Fixtures.service("x@random-\(index).bound.test"))
          _ = try? await client.find(Fixtures.service("x@127.0.0.1:\(try freeLoopbackPort())"))
          #expect(resolver.cachedAnswers <= 30)
          #expect(a.server.peerStatistics.snapshot.count <= 20)
        }
      }
      #expect(a.server.peers.connectionCount == 0, "no connection to a dead address is kept")
      #expect(a.server.peerStatistics.snapshot.count > 0, "still counting")
    }
  }
}
