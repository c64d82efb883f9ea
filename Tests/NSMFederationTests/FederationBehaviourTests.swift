import Foundation
import GRPCCore
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// A three-domain federation (A, B and floating F) and what goes wrong between domains.
@Suite("federation: watches, failures, floating domains", .timeLimit(.minutes(2)))
struct FederationBehaviourTests {
  static let a = "a.fed.test"
  static let b = "b.fed.test"
  static let f = "f.fed.test"
  static let f2 = "f2.fed.test"

  func named(_ name: String) -> Registry_NetworkServiceEndpoint { .with { $0.name = name } }

  @Test func anExpiryInBReachesAWatcherInAAsADelete() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    try await withRegistry(domains, Self.a) { a in
      // B caps every lease at 2 s.
      try await withRegistry(domains, Self.b, configure: { $0.expirePeriod = .seconds(2) }) { b in
        try await a.withClient { client in
          try await client.watch(Registry_NetworkServiceEndpoint.with { $0.networkServiceNames = ["ns-1@\(Self.b)"] }) {
            iterator in
            // Registered once A's watch is open in B: on a loaded machine opening it could
            // otherwise take longer than the lease, and the watcher would never see the record.
            #expect(await eventually(within: .seconds(60)) { b.server.openStreamCount == 1 })
            _ = try await b.withClient { try await $0.register(Fixtures.endpoint("short", expiresIn: 3600)) }
            var state: [String: Registry_NetworkServiceEndpointResponse] = [:]
            _ = try await readUntil(&iterator, name: \.networkServiceEndpoint.name, deleted: \.deleted, state: &state) {
              $0.count == 1
            }
            #expect(state.keys.sorted() == ["short@\(Self.b)"])
            #expect(state.values.allSatisfy { $0.networkServiceEndpoint.url == domains[Self.b].gatewayURL })
            let events = try await readUntil(
              &iterator,
              name: \.networkServiceEndpoint.name,
              deleted: \.deleted,
              state: &state
            ) { $0.isEmpty }
            #expect(events.map(\.deleted) == [true])
            #expect(events.first?.networkServiceEndpoint.name == "short@\(Self.b)")
          }
        }
      }
    }
  }

  /// B restarts with an empty memory store under A's open watch: the watcher is told that what
  /// it had is gone and sees what the new B has.
  @Test func aPeerRestartedUnderAnOpenWatchIsResynced() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    let (stop, stopFirstB) = AsyncStream<Void>.makeStream()
    let (ready, firstBReady) = AsyncStream<Void>.makeStream()
    let firstB = Task {
      try await withRegistry(domains, Self.b) { b in
        _ = try await b.withClient { try await $0.register(Fixtures.endpoint("nse-1", expiresIn: 3600)) }
        _ = try await b.withClient { try await $0.register(Fixtures.endpoint("nse-2", expiresIn: 3600)) }
        firstBReady.yield()
        for await _ in stop {}
      }
    }
    for await _ in ready { break }
    try await withRegistry(domains, Self.a) { a in
      try await a.withClient { client in
        let query = Registry_NetworkServiceEndpoint.with { $0.networkServiceNames = ["ns-1@\(Self.b)"] }
        try await client.watch(query) { iterator in
          var state: [String: Registry_NetworkServiceEndpointResponse] = [:]
          _ = try await readUntil(&iterator, name: \.networkServiceEndpoint.name, deleted: \.deleted, state: &state) {
            $0.count == 2
          }
          // B stops (its watch streams end) and starts again empty, then gets nse-2 and nse-3.
          stopFirstB.finish()
          try await firstB.value
          try await withRegistry(domains, Self.b) { b in
            _ = try await b.withClient {
              try await $0.register(Fixtures.endpoint("nse-2", url: "tcp://10.0.0.2:1", expiresIn: 3600))
            }
            _ = try await b.withClient { try await $0.register(Fixtures.endpoint("nse-3", expiresIn: 3600)) }
            let events = try await readUntil(
              &iterator,
              name: \.networkServiceEndpoint.name,
              deleted: \.deleted,
              state: &state
            ) { $0.keys.sorted() == ["nse-2@\(Self.b)", "nse-3@\(Self.b)"] }
            #expect(events.contains { $0.deleted && $0.networkServiceEndpoint.name == "nse-1@\(Self.b)" })
            #expect(state.count == 2)
          }
        }
      }
    }
  }

  /// A watch whose domain cannot be reached when it opens fails at once, as any Find would.
  @Test func aWatchOfAnUnreachableDomainFailsAtOnce() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    try await withRegistry(domains, Self.a) { a in
      let failure = await rpcFailure {
        try await a.withClient { client in
          try await client.watch(Registry_NetworkServiceEndpoint.with { $0.name = "nse-1@\(Self.b)" }) { iterator in
            _ = try await iterator.next()
          }
        }
      }
      #expect(failure.code == .unavailable)
      #expect(failure.message.contains("'\(Self.b)'"))
    }
  }

  @Test func aPeerThatIsDownIsUnavailableNamingTheDomainAndAddress() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    try await withRegistry(domains, Self.a) { a in
      let failure = await rpcFailure {
        _ = try await a.withClient { try await $0.find(named("nse-1@\(Self.b)")) }
      }
      #expect(failure.code == .unavailable)
      #expect(failure.message.contains("'\(Self.b)'"))
      #expect(failure.message.contains("127.0.0.1:\(domains[Self.b].registryPort)"))
      #expect(a.server.peerStatistics.counts(domain: Self.b).failed == 1)
    }
  }

  /// B's first SRV target is dead; the second answers.
  @Test func theDomainsOtherTargetsAreTried() async throws {
    let dead = try freeLoopbackPort()
    let domains = try await TestDomains.start([Self.a, Self.b]) { ports in
      [
        Self.b: """
        _nsm-registry._tcp 5 IN SRV 0 0 \(dead) dead.\(Self.b).
        _nsm-registry._tcp 5 IN SRV 10 0 \(ports[Self.b]!) live.\(Self.b).
        dead 5 IN A 127.0.0.1
        live 5 IN A 127.0.0.1
        """
      ]
    }
    try await withRegistry(domains, Self.a) { a in
      try await withRegistry(domains, Self.b) { b in
        _ = try await b.withClient { try await $0.register(Fixtures.service("ns-1")) }
        let found = try await a.withClient { try await $0.find(Fixtures.service("ns-1@\(Self.b)")) }
        #expect(found.map(\.name) == ["ns-1@\(Self.b)"])
        #expect(a.server.peerStatistics.counts(domain: Self.b).failed == 1)
        #expect(a.server.peerStatistics.counts(domain: Self.b).answered == 1)
      }
    }
  }

  /// A peer that accepts connections and never answers: the caller's deadline, not the
  /// registry's forward timeout, ends the call. The peer is named by `host:port`, so no DNS
  /// answer (slow on a loaded machine) spends the deadline before the forward.
  @Test func theCallersDeadlinePropagates() async throws {
    let silent = try SilentListener()
    let domain = "127.0.0.1:\(silent.port)"
    try await TestRegistry.run {
      $0.domain = Self.a
      $0.federation.directory = try? TestDomains.literalOnly()
      $0.federation.forwardTimeout = .seconds(100)
    } _: { a in
      let clock = ContinuousClock()
      let start = clock.now
      let failure = await rpcFailure {
        try await a.withClient { client in
          var options = CallOptions.defaults
          // Long enough that the registry, even on a loaded machine, starts the forward before
          // it passes (else it refuses without forwarding), far below the forward timeout.
          options.timeout = .seconds(8)
          _ = try await client.networkServices.find(
            .with { $0.networkService = Fixtures.service("ns-1@\(domain)") },
            options: options
          ) { response in
            for try await _ in response.messages {}
          }
        }
      }
      #expect(failure.code == .deadlineExceeded)
      #expect(clock.now - start < .seconds(30))
      // The client's own deadline ends its side at 8 s whatever happens; the registry's
      // forwarded call must end with it too, not at its 100 s forward timeout. (The margin is
      // wide: on a machine loaded by the parallel suite the end was seen tens of seconds late.)
      let forwardEnded = await eventually(within: .seconds(60)) {
        a.server.peerStatistics.counts(domain: domain).failed == 1
      }
      #expect(forwardEnded, "the forwarded call inherited the caller's deadline")
    }
    _ = silent
  }

  @Test func anUnknownDomainIsNotFoundNamingIt() async throws {
    // nsd answers for the parent zone, so the unknown name gets a real NXDOMAIN.
    let domains = try await TestDomains.start([Self.a]) { _ in ["fed.test": ""] }
    try await withRegistry(domains, Self.a) { a in
      let failure = await rpcFailure {
        _ = try await a.withClient { try await $0.register(Fixtures.service("ns-1@nowhere.fed.test")) }
      }
      #expect(failure.code == .notFound)
      #expect(failure.message.contains("nowhere.fed.test"))
    }
  }

  /// `loop.fed.test` publishes A's own registry: A forwards to itself once and refuses there.
  @Test func aForwardingLoopIsRefused() async throws {
    let domains = try await TestDomains.start([Self.a]) { ports in
      [
        "loop.fed.test":
          "_nsm-registry._tcp 5 IN SRV 0 0 \(ports[Self.a]!) ns.loop.fed.test."
      ]
    }
    // The loop is refused at once; the timeout only bounds a failure (generous for a loaded machine).
    try await withRegistry(domains, Self.a, configure: { $0.federation.forwardTimeout = .seconds(30) }) { a in
      let register = await rpcFailure {
        _ = try await a.withClient { try await $0.register(Fixtures.service("ns-1@loop.fed.test")) }
      }
      let find = await rpcFailure {
        _ = try await a.withClient { try await $0.find(Fixtures.service("ns-1@loop.fed.test")) }
      }
      for failure in [register, find] {
        #expect(failure.code == .failedPrecondition)
        #expect(failure.message.contains("forwarding loop"))
        #expect(failure.message.contains("loop.fed.test"))
      }
      let stored = try await a.networkServices.find(Registry_NetworkService())
      #expect(stored.isEmpty, "nothing was stored")
    }
  }

  @Test func badDomainsAreInvalidArgumentAndChangeNothing() async throws {
    let domains = try await TestDomains.start([Self.a])
    try await withRegistry(domains, Self.a) { a in
      for nse in [
        Fixtures.endpoint("nse-1@b.fed.test", services: ["ns-1@c.fed.test"]),
        Fixtures.endpoint("nse-1@bad_domain!", services: ["ns-1"]),
        Fixtures.endpoint("nse-1@x@y", services: ["ns-1"]),
      ] {
        let failure = await rpcFailure { _ = try await a.withClient { try await $0.register(nse) } }
        #expect(failure.code == .invalidArgument, "\(nse.name): \(failure.message)")
      }
      #expect(a.server.peerStatistics.snapshot.isEmpty, "nothing was forwarded")
    }
  }

  /// One registry hosts two floating domains; the same names registered into both stay apart.
  @Test func twoFloatingDomainsOnOneRegistryStayApart() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b], floating: [Self.f]) { ports in
      [
        Self.f2: try ZoneRecords.lines(
          domain: Self.f2,
          registry: ZoneRecords.Endpoint(parsing: "127.0.0.1:\(ports[Self.f]!)"),
          proxy: nil,
          ttl: 5
        ).joined(separator: "\n")
      ]
    }
    try await withRegistry(domains, Self.a) { a in
      try await withRegistry(domains, Self.b) { b in
        try await withRegistry(domains, Self.f, floating: [Self.f2]) { f in
          for (domain, url) in [(Self.f, "tcp://10.0.0.1:1"), (Self.f2, "tcp://10.0.0.2:2")] {
            _ = try await b.withClient {
              try await $0.register(Fixtures.endpoint("nse-1@\(domain)", url: url, expiresIn: 3600))
            }
            _ = try await b.withClient { try await $0.register(Fixtures.service("ns-1@\(domain)")) }
          }
          // Both carry B's gateway; they differ in what F keeps for each domain.
          for domain in [Self.f, Self.f2] {
            let found = try await a.withClient { try await $0.find(named("nse-1@\(domain)")) }
            #expect(found.map(\.name) == ["nse-1@\(domain)"])
            #expect(found.map(\.networkServiceNames) == [["ns-1@\(domain)"]])
            #expect(found.first?.url == domains[Self.b].gatewayURL)
            let services = try await a.withClient {
              try await $0.find(Registry_NetworkService.with { $0.name = "ns-1@\(domain)" })
            }
            #expect(services.map(\.name) == ["ns-1@\(domain)"])
          }
          // F's own domain lists only its own records; f2's are kept under their suffix.
          let own = try await f.withClient { try await $0.find(Registry_NetworkServiceEndpoint()) }
          #expect(own.map(\.name) == ["nse-1"])
          let hosted = try await f.withClient {
            try await $0.find(Registry_NetworkServiceEndpoint.with { $0.networkServiceNames = ["ns-1@\(Self.f2)"] })
          }
          #expect(hosted.map(\.name) == ["nse-1@\(Self.f2)"])

          #expect(
            try await f.endpoints.find(Registry_NetworkServiceEndpoint()).map(\.name).sorted()
              == ["nse-1", "nse-1@\(Self.f2)"]
          )
          // Unregistering from one leaves the other.
          try await b.withClient { try await $0.unregister(named("nse-1@\(Self.f2)")) }
          #expect(try await a.withClient { try await $0.find(named("nse-1@\(Self.f2)")) }.isEmpty)
          #expect(try await a.withClient { try await $0.find(named("nse-1@\(Self.f)")) }.count == 1)
        }
      }
    }
  }

  @Test func callsToOnePeerShareOneConnection() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    try await withRegistry(domains, Self.a) { a in
      try await withRegistry(domains, Self.b) { _ in
        try await a.withClient { client in
          for index in 0..<20 {
            _ = try await client.register(Fixtures.service("ns-\(index)@\(Self.b)"))
          }
          #expect(try await client.find(Registry_NetworkService.with { $0.name = "ns-7@\(Self.b)" }).count == 1)
        }
        #expect(a.server.peers.peerCount == 1)
        #expect(a.server.peerStatistics.counts(domain: Self.b).answered == 21)
      }
    }
  }

  /// A domain that publishes no gateway and has no --public-url: the registrant's URL goes out.
  @Test func withoutAGatewayTheRegistrantsURLGoesOut() async throws {
    let domains = try await TestDomains.start([Self.a], floating: [Self.b, Self.f])
    try await withRegistry(domains, Self.b) { b in
      try await withRegistry(domains, Self.f) { f in
        _ = try await b.withClient {
          try await $0.register(Fixtures.endpoint("nse-1@\(Self.f)", url: "tcp://10.9.9.9:1", expiresIn: 3600))
        }
        let stored = try await f.endpoints.find(Registry_NetworkServiceEndpoint())
        #expect(stored.map(\.url) == ["tcp://10.9.9.9:1"])
      }
    }
  }

  /// A workload's registration into another domain is kept at home under its name there, with
  /// its own URL and the other domain's lease: only an `origins` Find (what a gateway asks)
  /// sees it, whatever spelling of the domain it uses; an Unregister removes it.
  @Test func aRegistrationIntoAFloatingDomainIsKeptAtHomeForTheGateway() async throws {
    let domains = try await TestDomains.start([Self.b], floating: [Self.f])
    try await withRegistry(domains, Self.b) { b in
      try await withRegistry(domains, Self.f) { f in
        try await b.withClient { client in
          let answer = try await client.register(
            Fixtures.endpoint("nse-1@\(Self.f)", services: ["ns-1@\(Self.f)"], url: "tcp://10.9.9.9:1", expiresIn: 3600)
          )
          #expect(answer.url == "tcp://10.9.9.9:1")
          let atF = try await f.endpoints.find(Registry_NetworkServiceEndpoint())
          #expect(atF.map(\.url) == [try #require(domains[Self.b].gatewayURL)])

          // Not among B's own endpoints, nor does a plain Find of the name see it (that goes to F).
          #expect(try await client.find(Registry_NetworkServiceEndpoint()).isEmpty)
          #expect(try await client.find(named("nse-1@\(Self.f)")).map(\.url) == atF.map(\.url))

          func origins(_ name: String) async throws -> [Registry_NetworkServiceEndpoint] {
            try await Registry_NetworkServiceEndpoint.findAll(
              named(name),
              on: client.grpc,
              metadata: [ForwardingInfo.originsKey: "1"]
            )
          }
          let kept = try await origins("nse-1@\(Self.f.uppercased()).")
          #expect(kept.map(\.name) == ["nse-1@\(Self.f)"])
          #expect(kept.map(\.url) == ["tcp://10.9.9.9:1"])
          #expect(kept.first?.networkServiceNames == ["ns-1@\(Self.f)"])
          // A lease no longer than F's (B may cap it further with its own expire period).
          let keptUntil = try #require(kept.first?.expirationTime.date)
          let fUntil = try #require(atF.first?.expirationTime.date)
          #expect(keptUntil <= fUntil && keptUntil > Date())
          #expect(try await origins("nse-2@\(Self.f)").isEmpty)

          try await client.unregister(named("nse-1@\(Self.f)"))
          #expect(try await origins("nse-1@\(Self.f)").isEmpty)
          #expect(try await f.endpoints.find(Registry_NetworkServiceEndpoint()).isEmpty)
        }
      }
    }
  }

  /// A hosted floating domain keeps one record per name whatever spelling the caller used, and
  /// a local workload registering into it gets the domain's public URL and cluster labels.
  @Test func aHostedFloatingDomainIsSpelledOneWay() async throws {
    let domains = try await TestDomains.start([Self.a])
    try await withRegistry(
      domains,
      Self.a,
      floating: [Self.f2],
      configure: {
        $0.federation.publicURL = "tcp://192.0.2.7:5004"
        $0.federation.clusterLabels = ["clusterName": "a"]
      }
    ) { a in
      try await a.withClient { client in
        let first = try await client.register(
          Fixtures.endpoint("nse-1@F2.fed.test", url: "tcp://10.0.0.1:1", expiresIn: 3600)
        )
        #expect(first.url == "tcp://10.0.0.1:1", "the registrant sees its own URL")
        _ = try await client.register(Fixtures.endpoint("nse-1@f2.fed.test.", url: "tcp://10.0.0.1:1", expiresIn: 3600))
        let stored = try await a.endpoints.find(Registry_NetworkServiceEndpoint())
        #expect(stored.map(\.name) == ["nse-1@\(Self.f2)"])
        #expect(stored.first?.url == "tcp://192.0.2.7:5004")
        #expect(stored.first?.networkServiceLabels["ns-1@\(Self.f2)"]?.labels == ["clusterName": "a"])
        try await client.unregister(named("nse-1@F2.FED.TEST"))
        #expect(try await a.endpoints.find(Registry_NetworkServiceEndpoint()).isEmpty)
      }
    }
  }

  /// Cancelling a cross-domain watch ends the upstream stream in the peer.
  @Test func cancellingACrossDomainWatchFreesThePeersStream() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    try await withRegistry(domains, Self.a) { a in
      try await withRegistry(domains, Self.b) { b in
        _ = try await b.withClient { try await $0.register(Fixtures.endpoint("nse-1", expiresIn: 3600)) }
        try await a.withClient { client in
          try await client.watch(named("nse-1@\(Self.b)")) { iterator in
            let first = try await iterator.next()
            #expect(first?.networkServiceEndpoint.name == "nse-1@\(Self.b)")
            #expect(b.server.openStreamCount == 1)
          }
        }
        #expect(await eventually { b.server.openStreamCount == 0 && a.server.openStreamCount == 0 })
      }
    }
  }

  /// `name@host:port` names a registry directly, without DNS; names come back with that suffix.
  @Test func aHostPortDomainSkipsDNS() async throws {
    let domains = try await TestDomains.start([Self.a, Self.b])
    try await withRegistry(domains, Self.a) { a in
      try await withRegistry(domains, Self.b) { b in
        _ = try await b.withClient { try await $0.register(Fixtures.service("ns-1")) }
        let literal = "127.0.0.1:\(domains[Self.b].registryPort)"
        let found = try await a.withClient { try await $0.find(Fixtures.service("ns-1@\(literal)")) }
        #expect(found.map(\.name) == ["ns-1@\(literal)"])
      }
    }
  }
}
