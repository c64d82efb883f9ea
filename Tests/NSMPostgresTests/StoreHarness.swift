import Foundation
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import NSMTesting
import ServiceLifecycle
import Testing

/// The stores every contract test runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
  case memory, postgres
  var description: String { rawValue }
}

typealias ServiceStore = any RecordStore<Registry_NetworkService>
typealias EndpointStore = any RecordStore<Registry_NetworkServiceEndpoint>

/// Runs `body` with a fresh pair of stores of `kind`: for PostgreSQL, a new database on the
/// shared throwaway server, migrated, with its pool and change feed running.
func withStores<Result: Sendable>(
  _ kind: StoreKind,
  _ body: (ServiceStore, EndpointStore) async throws -> Result
) async throws -> Result {
  switch kind {
  case .memory:
    return try await body(
      MemoryRecordStore<Registry_NetworkService>(),
      MemoryRecordStore<Registry_NetworkServiceEndpoint>()
    )
  case .postgres:
    let url = try await TestPostgres.sharedServer().makeDatabase()
    return try await withDatabase(url) { database in
      try await body(database.networkServices, database.endpoints)
    }
  }
}

/// A running ``PostgresDatabase`` (one registry replica's worth) on `url`, migrated.
func withDatabase<Result: Sendable>(
  _ url: String,
  options: PostgresDatabase.Options = .init(),
  _ body: (PostgresDatabase) async throws -> Result
) async throws -> Result {
  var logger = Logger(label: "test-postgres")
  logger.logLevel = .critical
  let database = PostgresDatabase(
    url: try PostgresStoreURL(parsing: url, poolSize: 4),
    options: options,
    logger: logger
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

/// A registry server on `database`'s stores, listening on a free loopback port, for `body`.
func withRegistry<Result: Sendable>(
  on database: PostgresDatabase,
  configure: (inout RegistryConfiguration) -> Void = { _ in },
  _ body: (ServiceAddress) async throws -> Result
) async throws -> Result {
  var configuration = RegistryConfiguration()
  configuration.listen = .tcp(host: "127.0.0.1", port: 0)
  configure(&configuration)
  var logger = Logger(label: "test-registry")
  logger.logLevel = .critical
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
      let result = try await body(try #require(address))
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
