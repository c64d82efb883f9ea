import BenchSupport
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import PostgresNIO
import ServiceLifecycle

// One registry replica on PostgreSQL, as Tests/NSMPostgresTests/StoreHarness.swift runs it
// (`withDatabase`, `withRegistry`), with the pool size as a parameter and a long expire period.

func benchLogger(_ label: String) -> Logger {
  var logger = Logger(label: label)
  logger.logLevel = .error
  return logger
}

/// A running ``PostgresDatabase`` (one registry replica's worth) on `url`, migrated: its pool
/// and its change feed run for `body`.
func withDatabase<Result: Sendable>(
  _ url: String,
  poolSize: Int,
  _ body: (NSMPostgres.PostgresDatabase) async throws -> Result
) async throws -> Result {
  let database = NSMPostgres.PostgresDatabase(
    url: try PostgresStoreURL(parsing: url, poolSize: poolSize),
    logger: benchLogger("bench-postgres")
  )
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await database.client.run() }
    try await database.migrate(waitForDatabase: false)
    group.addTask { try await database.feed.run() }
    do {
      let result = try await body(database)
      group.cancelAll()
      return result
    } catch {
      group.cancelAll()
      throw error
    }
  }
}

/// A `RegistryServer` on `database`'s stores, on 127.0.0.1 port 0, with its expiry reaper,
/// for `body`; shut down gracefully afterwards. The expire period is one hour, so nothing the
/// benchmark registers expires during a run.
func withRegistry<Result: Sendable>(
  on database: NSMPostgres.PostgresDatabase,
  _ body: (ServiceAddress) async throws -> Result
) async throws -> Result {
  var configuration = RegistryConfiguration()
  configuration.listen = .tcp(host: "127.0.0.1", port: 0)
  configuration.expirePeriod = .seconds(3600)
  let logger = benchLogger("bench-registry")
  let server = try RegistryServer(
    configuration: configuration,
    networkServices: database.networkServices,
    endpoints: database.endpoints,
    logger: logger
  )
  let group = ServiceGroup(services: server.services, logger: logger)
  return try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    do {
      var address: ServiceAddress?
      for _ in 0..<500 where address == nil {
        address = try? await server.listeningAddress
        if address == nil { try await Task.sleep(for: .milliseconds(10)) }
      }
      guard let address else { throw BenchError("the registry did not start listening") }
      let result = try await body(address)
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
      return result
    } catch {
      await group.triggerGracefulShutdown()
      try? await tasks.waitForAll()
      throw error
    }
  }
}

extension NSMPostgres.PostgresDatabase {
  /// Runs one SQL statement (no binds) and returns the first column of each row as text.
  func texts(_ sql: String) async throws -> [String] {
    var values: [String] = []
    for try await value in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(String.self) {
      values.append(value)
    }
    return values
  }

  func execute(_ sql: String) async throws {
    try await client.query(PostgresQuery(unsafeSQL: sql))
  }

  func count(_ table: String) async throws -> Int {
    let text = try await texts("SELECT count(*)::text FROM \(table)").first ?? "0"
    return Int(text) ?? 0
  }
}
