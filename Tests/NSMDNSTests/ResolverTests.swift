import Foundation
import NSMCore
import NSMDNS
import NSMTesting
import Testing

/// DomainResolver against a real authoritative server (nsd) serving zones/ and a test zone.
@Suite("Domain discovery over DNS", .timeLimit(.minutes(2)))
struct ResolverTests {
  static let testZone = """
    $ORIGIN t.nsm.test.
    $TTL 60
    @                          IN SOA ns hostmaster ( 1 3600 600 86400 2 )
    @                          IN NS  ns
    ns                         IN A   127.0.0.1
    ; several targets, two priorities
    _nsm-registry._tcp.multi   IN SRV 10 60 5001 t1.multi
    _nsm-registry._tcp.multi   IN SRV 10 30 5002 t2.multi
    _nsm-registry._tcp.multi   IN SRV 10 10 5003 t3.multi
    _nsm-registry._tcp.multi   IN SRV 20 0  5004 backup.multi
    t1.multi                   IN A   127.0.0.11
    t2.multi                   IN A   127.0.0.12
    t3.multi                   IN A   127.0.0.13
    backup.multi               IN A   127.0.0.14
    ; only upstream's form, the address on the same name
    registry.nsm-system.old    IN SRV 0 0 5005 registry.nsm-system.old
    registry.nsm-system.old    IN A   127.0.0.21
    ; upstream's form pointing at another name (upstream itself ignores that target: sdk#1518)
    registry.nsm-system.other  IN SRV 0 0 5006 host.other
    host.other                 IN A   127.0.0.22
    ; upstream's form as upstream reads it: a target without addresses, the SRV name with one
    registry.nsm-system.legacy IN SRV 0 0 5010 elsewhere.legacy
    registry.nsm-system.legacy IN A   127.0.0.23
    ; "service decidedly not available"
    _nsm-registry._tcp.down    IN SRV 0 0 0 .
    ; a target with no address
    _nsm-registry._tcp.noaddr  IN SRV 0 0 5007 missing.noaddr
    noaddr                     IN TXT "exists"
    ; an IPv6 target
    _nsm-registry._tcp.v6      IN SRV 0 0 5008 host.v6
    host.v6                    IN AAAA ::1
    ; names that exist without SRV records (NODATA)
    _nsm-registry._tcp.nodata  IN TXT "no srv here"
    registry.nsm-system.nodata IN TXT "none here either"
    ; a one-second TTL
    _nsm-registry._tcp.short 1 IN SRV 0 0 5009 h.short
    h.short                  1 IN A   127.0.0.31
    """

  static func withNSD(_ body: (TestNSD) async throws -> Void) async throws {
    let nsd = try await TestNSD.start(zones: ["t.nsm.test": testZone])
    try await body(nsd)
    nsd.stop()
  }

  static func resolver(
    _ nsd: TestNSD,
    seed: UInt64 = 1,
    timeout: Duration = .seconds(2),
    time: any TimeSource = SystemTime()
  ) -> DomainResolver {
    var configuration = DomainResolver.Configuration(servers: [nsd.server])
    configuration.timeout = timeout
    return DomainResolver(configuration: configuration, seed: seed, time: time)
  }

  static func expectDNSError(
    _ kind: DNSError.Kind,
    _ code: NSMError.Code,
    mentioning name: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
  ) async {
    do {
      try await body()
      Issue.record("expected \(kind)", sourceLocation: sourceLocation)
    } catch let error as DNSError {
      #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
      #expect(error.nsmError.code == code, sourceLocation: sourceLocation)
      #expect(error.description.contains(name), "\(error)", sourceLocation: sourceLocation)
    } catch {
      Issue.record("expected DNSError \(kind), got \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func bothRecordFormsOfTheProjectZones() async throws {
    try await Self.withNSD { nsd in
      let resolver = Self.resolver(nsd)
      let registry = try await resolver.registry(of: "a.nsm.test")
      #expect(registry.map(\.hostPort) == ["127.0.0.1:5002"])
      #expect(registry.first?.form == .srv)
      let proxyB = try await resolver.proxy(of: "b.nsm.test").map(\.hostPort)
      #expect(proxyB == ["127.0.0.1:5014"])
      let floating = try await resolver.registry(of: "floating.nsm.test").map(\.hostPort)
      #expect(floating == ["127.0.0.1:5022"])
      await Self.expectDNSError(.nxdomain, .notFound, mentioning: "nsmgr-proxy.nsm-system.floating.nsm.test.") {
        _ = try await resolver.proxy(of: "floating.nsm.test")
      }

      let old = try await resolver.registry(of: "old.t.nsm.test")
      #expect(old.map(\.hostPort) == ["127.0.0.21:5005"])
      #expect(old.first?.form == .upstream)
      let other = try await resolver.registry(of: "other.t.nsm.test").map(\.hostPort)
      #expect(other == ["127.0.0.22:5006"])
      let legacy = try await resolver.registry(of: "legacy.t.nsm.test")
      #expect(legacy.map(\.hostPort) == ["127.0.0.23:5010"])
    }
  }

  @Test func prioritiesAndWeights() async throws {
    try await Self.withNSD { nsd in
      let resolver = Self.resolver(nsd, seed: 2026)
      var first: [String: Int] = [:]
      let picks = 600
      for _ in 0..<picks {
        let endpoints = try await resolver.registry(of: "multi.t.nsm.test")
        #expect(endpoints.count == 4)
        #expect(endpoints.map(\.priority) == [10, 10, 10, 20], "priority order")
        #expect(endpoints.last?.hostPort == "127.0.0.14:5004", "the backup comes last")
        first[endpoints[0].hostPort, default: 0] += 1
      }
      #expect(abs(Double(first["127.0.0.11:5001", default: 0]) / Double(picks) - 0.6) < 0.08)
      #expect(abs(Double(first["127.0.0.12:5002", default: 0]) / Double(picks) - 0.3) < 0.08)
      #expect(abs(Double(first["127.0.0.13:5003", default: 0]) / Double(picks) - 0.1) < 0.06)
    }
  }

  @Test func failuresSayWhatAndWhere() async throws {
    try await Self.withNSD { nsd in
      let resolver = Self.resolver(nsd)
      await Self.expectDNSError(.nxdomain, .notFound, mentioning: "_nsm-registry._tcp.nothing.t.nsm.test.") {
        _ = try await resolver.registry(of: "nothing.t.nsm.test")
      }
      await Self.expectDNSError(.noRecords, .notFound, mentioning: "registry.nsm-system.nodata.t.nsm.test.") {
        _ = try await resolver.registry(of: "nodata.t.nsm.test")
      }
      await Self.expectDNSError(.serviceNotAvailable, .notFound, mentioning: "_nsm-registry._tcp.down.t.nsm.test.") {
        _ = try await resolver.registry(of: "down.t.nsm.test")
      }
      await Self.expectDNSError(.targetWithoutAddress, .unavailable, mentioning: "missing.noaddr.t.nsm.test.") {
        _ = try await resolver.registry(of: "noaddr.t.nsm.test")
      }
      await Self.expectDNSError(.refused, .unavailable, mentioning: "example.org") {
        _ = try await resolver.registry(of: "example.org")
      }
    }
  }

  @Test func ipv6TargetsAndLiterals() async throws {
    try await Self.withNSD { nsd in
      let resolver = Self.resolver(nsd)
      let v6 = try await resolver.registry(of: "v6.t.nsm.test").map(\.hostPort)
      #expect(v6 == ["[::1]:5008"])
      let before = resolver.queriesSent
      let literal = try await resolver.registry(of: "10.0.0.1:5002").map(\.hostPort)
      #expect(literal == ["10.0.0.1:5002"])
      let literalV6 = try await resolver.proxy(of: "[fd00::1]:5004").map(\.hostPort)
      #expect(literalV6 == ["[fd00::1]:5004"])
      #expect(resolver.queriesSent == before, "a host:port domain skips DNS")
    }
  }

  @Test func answersAreCachedForTheirTTL() async throws {
    try await Self.withNSD { nsd in
      let time = ManualTime()
      let resolver = Self.resolver(nsd, time: time)
      _ = try await resolver.registry(of: "short.t.nsm.test")
      let afterFirst = resolver.queriesSent
      #expect(afterFirst >= 1)
      time.advance(by: .milliseconds(900))
      _ = try await resolver.registry(of: "short.t.nsm.test")
      #expect(resolver.queriesSent == afterFirst, "served from the cache within the 1 s TTL")
      time.advance(by: .milliseconds(200))
      _ = try await resolver.registry(of: "short.t.nsm.test")
      #expect(resolver.queriesSent > afterFirst, "the TTL ran out: asked again")
    }
  }

  @Test func negativeAnswersAreCachedForTheSOAMinimum() async throws {
    try await Self.withNSD { nsd in
      let time = ManualTime()
      let resolver = Self.resolver(nsd, time: time)
      _ = try? await resolver.registry(of: "nothing.t.nsm.test")
      let afterFirst = resolver.queriesSent
      time.advance(by: .milliseconds(1900))
      _ = try? await resolver.registry(of: "nothing.t.nsm.test")
      #expect(resolver.queriesSent == afterFirst, "NXDOMAIN served from the cache")
      time.advance(by: .milliseconds(200))
      _ = try? await resolver.registry(of: "nothing.t.nsm.test")
      #expect(resolver.queriesSent > afterFirst, "the SOA minimum (2 s) ran out")
    }
  }

  /// Callers choose the names: a flood of distinct ones (each NXDOMAIN, cached for the SOA
  /// minimum) cannot grow the cache past its bound.
  @Test func theCacheIsBoundedWhateverNamesAreAskedFor() async throws {
    try await Self.withNSD { nsd in
      var configuration = DomainResolver.Configuration(servers: [nsd.server])
      configuration.maxCacheEntries = 40
      let resolver = DomainResolver(configuration: configuration, seed: 1)
      for index in 0..<150 {
        _ = try? await resolver.registry(of: "random-\(index).t.nsm.test")
        #expect(resolver.cachedAnswers <= 40)
      }
      // Still a cache: a recent answer is served from it.
      let before = resolver.queriesSent
      _ = try? await resolver.registry(of: "random-149.t.nsm.test")
      #expect(resolver.queriesSent == before)
    }
  }

  @Test func concurrentLookupsShareOneQuery() async throws {
    try await Self.withNSD { nsd in
      let single = Self.resolver(nsd)
      _ = try await single.registry(of: "a.nsm.test")
      let shared = Self.resolver(nsd)
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<20 { group.addTask { _ = try await shared.registry(of: "a.nsm.test") } }
        try await group.waitForAll()
      }
      #expect(shared.queriesSent == single.queriesSent)
    }
  }

  @Test func aDeadServerTimesOutAndTheNextOneAnswers() async throws {
    try await Self.withNSD { nsd in
      let deadPort = try freeLoopbackPort()
      var configuration = DomainResolver.Configuration(servers: [
        NameServer(host: "127.0.0.1", port: UInt16(deadPort)), nsd.server,
      ])
      configuration.timeout = .milliseconds(300)
      let failover = DomainResolver(configuration: configuration)
      let viaSecondServer = try await failover.registry(of: "a.nsm.test").map(\.hostPort)
      #expect(viaSecondServer == ["127.0.0.1:5002"])

      nsd.stop()
      let resolver = Self.resolver(nsd, timeout: .milliseconds(300))
      let clock = ContinuousClock()
      let start = clock.now
      await Self.expectDNSError(.timeout, .unavailable, mentioning: "_nsm-registry._tcp.b.nsm.test.") {
        _ = try await resolver.registry(of: "b.nsm.test")
      }
      // One server, one query: the deadline holds (generous slack for a loaded machine).
      #expect(clock.now - start < .seconds(3))
    }
  }
}
