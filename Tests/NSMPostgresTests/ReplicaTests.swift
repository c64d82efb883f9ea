import Foundation
import GRPCCore
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Synchronization
import Testing

/// Several registry replicas on one PostgreSQL database.
@Suite("Replicas on one database", .timeLimit(.minutes(2)))
struct ReplicaTests {
  @Test func aChangeThroughOneReplicaReachesWatchersOnAnother() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    try await withDatabase(url) { a in
      try await withDatabase(url) { b in
        let watch = try await b.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 100)
        var events = watch.events.makeAsyncIterator()
        let stored = try await a.endpoints.register(Fixtures.endpoint("nse-1", expiresIn: 60))
        let seen = try #require(try await events.next())
        #expect(seen.record == stored && !seen.deleted)
        _ = try await a.endpoints.unregister(name: "nse-1")
        let deleted = try #require(try await events.next())
        #expect(deleted.record.name == "nse-1" && deleted.deleted)
        // Both replicas read the same rows.
        _ = try await b.networkServices.register(Fixtures.service("ns-1", payload: "IP"))
        #expect(try await a.networkServices.find(Registry_NetworkService()).map(\.name) == ["ns-1"])
      }
    }
  }

  @Test func theRegistrantIsKeptAcrossRestartsAndReplicas() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    var nse = Fixtures.endpoint("nse-1", expiresIn: 60)
    nse.pathIds = ["spiffe://a.example/ns/default/sa/owner"]
    try await withDatabase(url) { first in _ = try await first.endpoints.register(nse) }
    try await withDatabase(url) { restarted in
      var takeover = nse
      takeover.pathIds = ["spiffe://a.example/ns/default/sa/intruder"]
      _ = try await restarted.endpoints.register(takeover)
      #expect(try await restarted.endpoints.registrant(of: "nse-1") == "spiffe://a.example/ns/default/sa/owner")
    }
  }

  /// Every replica runs the reaper; each expired endpoint is deleted once, and every watcher on
  /// every replica sees exactly one delete.
  @Test func expiryWithTwoReapersYieldsOneDeletePerWatcher() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    try await withDatabase(url) { a in
      try await withDatabase(url) { b in
        let watchA = try await a.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 1000)
        let watchB = try await b.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 1000)
        for i in 0..<20 { _ = try await a.endpoints.register(Fixtures.endpoint("nse-\(i)", expiresIn: 0.3)) }
        try await Task.sleep(for: .milliseconds(400))
        // Both reapers race on the same expired rows.
        async let fromA = a.endpoints.removeExpired(now: Date())
        async let fromB = b.endpoints.removeExpired(now: Date())
        let removed = try await fromA + fromB
        #expect(removed.count == 20, "each endpoint is removed by exactly one replica")
        for watch in [watchA, watchB] {
          let deletes = try await Self.deletes(in: watch, events: 40)
          #expect(deletes.count == 20)
          #expect(deletes.values.allSatisfy { $0 == 1 })
        }
        // Nothing more arrives: no duplicate delete later.
        _ = try await a.endpoints.register(Fixtures.endpoint("marker", expiresIn: 60))
        var events = watchB.events.makeAsyncIterator()
        #expect(try await events.next()?.record.name == "marker")
      }
    }
  }

  /// How often each name was deleted among the next `count` events of `watch`.
  static func deletes(in watch: RecordWatch<Registry_NetworkServiceEndpoint>, events count: Int) async throws
    -> [String: Int]
  {
    var deletes: [String: Int] = [:]
    var seen = 0
    for try await event in watch.events {
      if event.deleted { deletes[event.record.name, default: 0] += 1 }
      seen += 1
      if seen == count { break }
    }
    return deletes
  }

  /// Two `nsm registry` processes on one database, as a deployment runs them.
  @Test func twoRegistryProcessesOnOneDatabase() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    let arguments = ["registry", "--listen", "tcp://127.0.0.1:0", "--store", url, "--expire-period", "1s"]
    let a = try NSMProcess.Running(arguments)
    let b = try NSMProcess.Running(arguments)
    defer {
      a.signal(SIGKILL)
      b.signal(SIGKILL)
    }
    let addressA = try await a.registryAddress()
    let addressB = try await b.registryAddress()

    try await RegistryClient.with(address: addressA) { clientA in
      try await RegistryClient.with(address: addressB) { clientB in
        try await clientB.watch(Registry_NetworkServiceEndpoint(), marked: true) { onB in
          try await clientA.watch(Registry_NetworkServiceEndpoint(), marked: true) { onA in
            // Both watches in place (their initial matches, none, then the marker) before the
            // registration: a watch opened after its 1 s lease ran out would see nothing.
            #expect(try await onB.next()?.hasNetworkServiceEndpoint == false)
            #expect(try await onA.next()?.hasNetworkServiceEndpoint == false)
            let stored = try await clientA.register(Fixtures.endpoint("nse-1"))
            for events in [onB, onA] {
              var events = events
              let added = try #require(try await events.next())
              #expect(added.networkServiceEndpoint == stored && !added.deleted)
              let expired = try #require(try await events.next())
              #expect(expired.networkServiceEndpoint.name == "nse-1" && expired.deleted)
            }
            // One delete each: the next event is the marker, not a second delete.
            _ = try await clientB.register(Fixtures.endpoint("marker"))
            #expect(try await onB.next()?.networkServiceEndpoint.name == "marker")
            #expect(try await onA.next()?.networkServiceEndpoint.name == "marker")
          }
        }
      }
    }
    a.signal(SIGTERM)
    b.signal(SIGTERM)
    #expect(await a.waitForExit() == 0)
    #expect(await b.waitForExit() == 0)
  }

  @Test func migrationsAreIdempotentAndSafeToRunTogether() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    try await withDatabase(url) { a in
      try await withDatabase(url) { b in
        async let first: Void = a.migrate(waitForDatabase: false)
        async let second: Void = b.migrate(waitForDatabase: false)
        _ = try await (first, second)
        let rows = try await a.client.query("SELECT count(*) FROM nsm_schema_migrations")
        var count = 0
        for try await value in rows.decode(Int.self) { count = value }
        #expect(count == Migrations.latestVersion)
      }
    }
    let migrated = try await NSMProcess.run(["registry", "migrate", "--store", url])
    #expect(migrated.status == 0, "\(migrated.stderr)")
  }

  @Test func anUnreachableDatabaseGivesUnavailable() async throws {
    let port = try freeLoopbackPort()
    var options = PostgresDatabase.Options()
    options.deadline = .seconds(1)
    var logger = Logger(label: "unreachable")
    logger.logLevel = .critical
    let database = PostgresDatabase(
      url: try PostgresStoreURL(parsing: "postgres://postgres@127.0.0.1:\(port)/nsm?sslmode=disable", poolSize: 2),
      options: options,
      logger: logger
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { await database.client.run() }
      do {
        _ = try await database.endpoints.register(Fixtures.endpoint("nse-1"))
        Issue.record("the register succeeded without a database")
      } catch let error as NSMError {
        #expect(error.code == .unavailable)
        #expect(error.message.contains("database"))
      }
      group.cancelAll()
    }
  }
}

@Suite("Change log history", .timeLimit(.minutes(1)))
struct ChangeHistoryTests {
  /// A replica that missed changes which were pruned meanwhile cannot bring its watchers up to
  /// date: their streams end with UNAVAILABLE so the clients find again.
  @Test func watchersEndWithUnavailableWhenTheirHistoryWasPruned() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    try await withDatabase(url) { database in
      let watch = try await database.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 10)
      // As if this replica had been cut off while others wrote changes and pruned them: the
      // changes of every transaction up to this one are gone.
      try await database.client.query(
        "UPDATE nsm_change_horizon SET pruned_tx = pg_current_xact_id()::text::bigint WHERE id = 1"
      )
      database.feed.poke()
      do {
        for try await _ in watch.events {}
        Issue.record("the watch ended without an error")
      } catch let error as NSMError {
        #expect(error.code == .unavailable)
        #expect(error.message.contains("find again"))
      }
      // New watches work again at once.
      let fresh = try await database.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 10)
      _ = try await database.endpoints.register(Fixtures.endpoint("nse-1"))
      var events = fresh.events.makeAsyncIterator()
      #expect(try await events.next()?.record.name == "nse-1")
    }
  }
}
