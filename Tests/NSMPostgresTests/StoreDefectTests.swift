import Foundation
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMStore
import NSMTesting
import Testing

/// Defects a review found in the PostgreSQL store, each with the test that showed it.
@Suite("PostgreSQL store: defects fixed", .timeLimit(.minutes(2)))
struct StoreDefectTests {
  /// Names sorted by the database's collation differed from the memory store's byte order.
  @Test func namesSortAlikeInBothStoresWhateverTheDatabasesLocale() async throws {
    let server = try await TestPostgres.sharedServer()
    let url = try await server.makeDatabase(icuLocale: "en-US")
    let names = ["b", "B", "a", "_x", "Z", "ä", "a1", "A"]
    let memory = MemoryRecordStore<Registry_NetworkService>()
    for name in names { _ = try await memory.register(Fixtures.service(name, payload: "IP")) }
    try await withPostgresDatabase(url) { database in
      for name in names { _ = try await database.networkServices.register(Fixtures.service(name, payload: "IP")) }
      let stored = try await database.networkServices.find(Registry_NetworkService()).map(\.name)
      #expect(stored == (try await memory.find(Registry_NetworkService()).map(\.name)))
      #expect(stored == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "byte order")
    }
  }

  /// A row that does not decode is corruption: DATA_LOSS naming it, not a retryable UNAVAILABLE.
  @Test func aCorruptRowIsDataLossNamingIt() async throws {
    let server = try await TestPostgres.sharedServer()
    let url = try await server.makeDatabase()
    try await withPostgresDatabase(url) { database in
      _ = try await database.endpoints.register(Fixtures.endpoint("nse-1"))
      _ = try await database.endpoints.register(Fixtures.endpoint("nse-2"))
      try await server.execute(#"UPDATE nsm_endpoints SET record = '\xffffffff' WHERE name = 'nse-1'"#, database: url)
      for query in [Fixtures.endpoint("nse-1", services: [], url: ""), Registry_NetworkServiceEndpoint()] {
        do {
          _ = try await database.endpoints.find(query)
          Issue.record("a corrupt row was read")
        } catch let error as NSMError {
          #expect(error.code == .dataLoss)
          #expect(error.message.contains("'nse-1'"))
        }
      }
      // The other rows are still there to read.
      #expect(try await database.endpoints.find(Fixtures.endpoint("nse-2", services: [], url: "")).count == 1)
    }
  }

  /// The change feed's LISTEN holds a connection for good; a pool of one must still serve.
  @Test func aPoolOfOneConnectionServesBesideTheChangeFeed() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    try await withPostgresDatabase(url, poolSize: 1) { database in
      #expect(await eventually { database.feed.isListening })
      let watch = try await database.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 10)
      _ = try await database.endpoints.register(Fixtures.endpoint("nse-1"))
      #expect(try await database.endpoints.find(Registry_NetworkServiceEndpoint()).count == 1)
      var events = watch.events.makeAsyncIterator()
      #expect(try await events.next()?.record.name == "nse-1")
    }
  }

  @Test func aPoolSizeThatCannotWorkIsRefused() {
    for size in [0, -1, PostgresStoreURL.maxPoolSize + 1] {
      #expect(throws: NSMError.self) { try PostgresStoreURL(parsing: "postgres://u@localhost/db", poolSize: size) }
    }
  }
}

/// Pruning the change log can fail for good (a permission, a broken table); the log then grows
/// without bound, so the operator must hear of it: a warning, not a debug line.
@Suite("PostgreSQL store: pruning", .timeLimit(.minutes(2)))
struct PruneFailureTests {
  @Test func aFailingPruneIsLoggedAsAWarning() async throws {
    let server = try await TestPostgres.sharedServer()
    let url = try await server.makeDatabase()
    let capture = LogCapture()
    var options = PostgresDatabase.Options.forTests
    options.retention = .seconds(1)
    options.pruneInterval = .seconds(1)
    try await withPostgresDatabase(url, options: options, logger: capture.logger(level: .warning)) { database in
      try await server.execute(
        """
        CREATE FUNCTION nsm_test_refuse() RETURNS trigger LANGUAGE plpgsql
          AS $$ BEGIN RAISE EXCEPTION 'pruning refused by the test'; END $$;
        CREATE TRIGGER nsm_test_refuse BEFORE DELETE ON nsm_changes
          FOR EACH ROW EXECUTE FUNCTION nsm_test_refuse();
        """,
        database: url
      )
      // A change to prune only once the trigger is in place: under load, one made before could
      // be pruned (successfully) before the trigger exists, and no prune would fail after it.
      _ = try await database.endpoints.register(Fixtures.endpoint("nse-1"))
      let warned = await eventually(within: .seconds(60)) {
        capture.logged.contains { $0.level == .warning && $0.message.contains("pruning the change log failed") }
      }
      #expect(warned)
    }
  }
}
