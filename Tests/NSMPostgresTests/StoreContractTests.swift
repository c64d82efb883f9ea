import Foundation
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import SwiftProtobuf
import Testing

/// What every ``RecordStore`` must do; one suite, run against each store.
@Suite("Store contract", .timeLimit(.minutes(2)))
struct StoreContractTests {
  @Test(arguments: StoreKind.allCases)
  func registerIsAnUpsertThatKeepsTheFirstRegistration(_ kind: StoreKind) async throws {
    try await withStores(kind) { _, endpoints in
      var first = Fixtures.endpoint("nse-1", expiresIn: 60)
      first.initialRegistrationTime = Google_Protobuf_Timestamp(seconds: 1000)
      first.pathIds = ["spiffe://a/workload-1"]
      let stored = try await endpoints.register(first)
      #expect(stored == first)

      var refresh = Fixtures.endpoint("nse-1", url: "tcp://10.0.0.2:1", expiresIn: 120)
      refresh.initialRegistrationTime = Google_Protobuf_Timestamp(seconds: 2000)
      refresh.pathIds = ["spiffe://a/workload-2"]
      let refreshed = try await endpoints.register(refresh)
      #expect(refreshed.initialRegistrationTime.seconds == 1000)
      #expect(refreshed.url == "tcp://10.0.0.2:1")
      #expect(try await endpoints.find(Fixtures.endpoint("nse-1", services: [], url: "")) == [refreshed])
      #expect(try await endpoints.registrant(of: "nse-1") == "spiffe://a/workload-1", "the first registrant is kept")
      #expect(try await endpoints.registrant(of: "unknown") == nil)
    }
  }

  @Test(arguments: StoreKind.allCases)
  func unregisterReturnsWhatWasRemoved(_ kind: StoreKind) async throws {
    try await withStores(kind) { services, _ in
      let stored = try await services.register(Fixtures.service("ns-1", payload: "IP"))
      #expect(try await services.unregister(name: "ns-1") == stored)
      #expect(try await services.unregister(name: "ns-1") == nil)
      #expect(try await services.find(Registry_NetworkService()).isEmpty)
    }
  }

  static let endpointQueries: [(String, Registry_NetworkServiceEndpoint, [String])] = [
    ("all", .init(), ["nse-1", "nse-10", "nse-2"]),
    ("exact name", .with { $0.name = "nse-1" }, ["nse-1"]),
    ("service subset", .with { $0.networkServiceNames = ["a", "b"] }, ["nse-10"]),
    ("labels", .with { $0.networkServiceLabels = ["a": .with { $0.labels = ["app": "fw"] }] }, ["nse-1", "nse-10"]),
    ("labels of an absent service", .with { $0.networkServiceLabels = ["c": .with { _ in }] }, []),
    ("url substring", .with { $0.url = "10.0.0.1" }, ["nse-1", "nse-10"]),
    ("url with LIKE metacharacters", .with { $0.url = "%" }, ["nse-2"]),
  ]

  @Test(arguments: StoreKind.allCases)
  func findAppliesUpstreamMatching(_ kind: StoreKind) async throws {
    try await withStores(kind) { services, endpoints in
      _ = try await endpoints.register(
        Fixtures.endpoint("nse-1", services: ["a"], labels: ["a": ["app": "fw", "zone": "z"]], url: "tcp://10.0.0.1:1")
      )
      _ = try await endpoints.register(
        Fixtures.endpoint("nse-10", services: ["a", "b"], labels: ["a": ["app": "fw"]], url: "tcp://10.0.0.10:1")
      )
      _ = try await endpoints.register(Fixtures.endpoint("nse-2", services: ["b"], url: "unix:///run/100%_x.sock"))
      for (title, query, expected) in Self.endpointQueries {
        #expect(try await endpoints.find(query).map(\.name) == expected, "\(title)")
      }
      let expiring = try await endpoints.register(Fixtures.endpoint("nse-3", services: ["z"], expiresIn: 30))
      var bySecond = Registry_NetworkServiceEndpoint()
      bySecond.expirationTime = Google_Protobuf_Timestamp(seconds: expiring.expirationTime.seconds, nanos: 0)
      #expect(try await endpoints.find(bySecond).map(\.name) == ["nse-3"], "expiration compares whole seconds")

      _ = try await services.register(Fixtures.service("ns", payload: "IP"))
      var withMatches = Fixtures.service("ns-1", payload: "ETHERNET")
      withMatches.matches = [.with { $0.sourceSelector = ["app": "x"] }]
      _ = try await services.register(withMatches)
      #expect(try await services.find(Fixtures.service("ns")).map(\.name) == ["ns"])
      #expect(try await services.find(Fixtures.service("", payload: "ETHERNET")).map(\.name) == ["ns-1"])
      #expect(try await services.find(.with { $0.matches = withMatches.matches }).map(\.name) == ["ns-1"])
    }
  }

  @Test(arguments: StoreKind.allCases)
  func watchGivesInitialStateThenChangesInOrder(_ kind: StoreKind) async throws {
    try await withStores(kind) { _, endpoints in
      _ = try await endpoints.register(Fixtures.endpoint("nse-1", services: ["a"]))
      _ = try await endpoints.register(Fixtures.endpoint("other", services: ["b"]))
      let watch = try await endpoints.watch(Fixtures.endpoint("", services: ["a"], url: ""), bufferSize: 100)
      #expect(watch.initial.map(\.name) == ["nse-1"])
      _ = try await endpoints.register(Fixtures.endpoint("other", services: ["b"], url: "tcp://x:2"))
      _ = try await endpoints.register(Fixtures.endpoint("nse-2", services: ["a"]))
      _ = try await endpoints.unregister(name: "nse-1")
      var events = watch.events.makeAsyncIterator()
      let first = try #require(try await events.next())
      #expect(first.record.name == "nse-2" && !first.deleted)
      let second = try #require(try await events.next())
      #expect(second.record.name == "nse-1" && second.deleted)
    }
  }

  @Test(arguments: StoreKind.allCases)
  func aWatcherThatFallsBehindEndsWithResourceExhausted(_ kind: StoreKind) async throws {
    try await withStores(kind) { services, _ in
      let watch = try await services.watch(Registry_NetworkService(), bufferSize: 3)
      for i in 0..<10 { _ = try await services.register(Fixtures.service("ns-\(i)", payload: "IP")) }
      // PostgreSQL hands changes to watchers from its change feed, after the commit: the
      // watcher is cut off once the feed got that far (consuming earlier would keep up).
      #expect(await eventually(within: .seconds(60)) { watcherCount(services) == 0 })
      var received: [String] = []
      do {
        for try await event in watch.events { received.append(event.record.name) }
        Issue.record("the watch ended without an error")
      } catch let error as NSMError {
        #expect(error.code == .resourceExhausted)
      }
      #expect(received == ["ns-0", "ns-1", "ns-2"], "what was buffered arrives, in order, before the error")
    }
  }

  @Test(arguments: StoreKind.allCases)
  func removeExpiredDeletesEachOnceAndTellsWatchers(_ kind: StoreKind) async throws {
    try await withStores(kind) { _, endpoints in
      let now = Date()
      _ = try await endpoints.register(Fixtures.endpoint("short", expiresIn: 5))
      _ = try await endpoints.register(Fixtures.endpoint("long", expiresIn: 60))
      let watch = try await endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 10)
      // The clock is the caller's: no sleeping, no race with a slow machine.
      #expect(try await endpoints.removeExpired(now: now).isEmpty)
      #expect(try await endpoints.removeExpired(now: now.addingTimeInterval(6)).map(\.name) == ["short"])
      #expect(try await endpoints.removeExpired(now: now.addingTimeInterval(6)).isEmpty)
      #expect(try await endpoints.find(Registry_NetworkServiceEndpoint()).map(\.name) == ["long"])
      var events = watch.events.makeAsyncIterator()
      let deleted = try #require(try await events.next())
      #expect(deleted.record.name == "short" && deleted.deleted)
    }
  }

  @Test(arguments: StoreKind.allCases)
  func namesAndLabelsAreStoredVerbatim(_ kind: StoreKind) async throws {
    try await withStores(kind) { services, endpoints in
      let name = "o'brien\";--drop-täble-数据"
      var ns = Fixtures.service(name, payload: "IP")
      ns.matches = [.with { $0.sourceSelector = ["k'ey\\": "va\"l'ue;--", "ключ": "значение 🙂"] }]
      #expect(try await services.register(ns) == ns)
      #expect(try await services.find(Fixtures.service(name)) == [ns])

      let nse = Fixtures.endpoint(
        "nse-'\";",
        services: [name],
        labels: [name: ["a'b": "c\"d\\e", "{{ .x }}": "%_*"]],
        url: "tcp://h:1/'%"
      )
      let stored = try await endpoints.register(nse)
      #expect(stored == nse)
      #expect(
        try await endpoints.find(.with { $0.networkServiceLabels = [name: .with { $0.labels = ["a'b": "c\"d\\e"] }] })
          == [nse]
      )
      #expect(try await endpoints.find(.with { $0.url = "/'%" }) == [nse])
      #expect(try await endpoints.unregister(name: "nse-'\";") == nse)
    }
  }
}

/// The registrant check runs atomically with the write: of two first registrations of one name
/// by different identities, exactly one passes.
@Suite("Store contract: registrant", .timeLimit(.minutes(2)))
struct RegistrantRaceTests {
  /// Admits a write by `identity` when the name is unregistered or already its own.
  static func admit(_ identity: String) -> RegistrantCheck {
    { registrant in
      if let registrant, registrant != identity {
        throw NSMError(.permissionDenied, "'\(registrant)' registered it")
      }
    }
  }

  @Test(arguments: StoreKind.allCases)
  func simultaneousFirstRegistrationsByTwoIdentitiesAdmitOne(_ kind: StoreKind) async throws {
    try await withStores(kind) { _, endpoints in
      for round in 0..<20 {
        let name = "nse-\(round)"
        let outcomes = try await withThrowingTaskGroup(of: String?.self) { group in
          for identity in ["spiffe://a/one", "spiffe://a/two"] {
            group.addTask {
              var record = Fixtures.endpoint(name)
              record.pathIds = [identity]
              do {
                _ = try await endpoints.register(record, admit: Self.admit(identity))
                return identity
              } catch let error as NSMError where error.code == .permissionDenied {
                return nil
              }
            }
          }
          return try await group.reduce(into: [String]()) { if let winner = $1 { $0.append(winner) } }
        }
        #expect(outcomes.count == 1, "round \(round): \(outcomes)")
        #expect(try await endpoints.registrant(of: name) == outcomes.first)
        // The loser cannot remove it either.
        let loser = outcomes.first == "spiffe://a/one" ? "spiffe://a/two" : "spiffe://a/one"
        await #expect(throws: NSMError.self) {
          _ = try await endpoints.unregister(name: name, admit: Self.admit(loser))
        }
        #expect(try await endpoints.registrant(of: name) == outcomes.first)
      }
    }
  }
}
