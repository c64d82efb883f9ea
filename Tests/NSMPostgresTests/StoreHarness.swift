import Foundation
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
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

/// One replica on `url` (NSMTesting's ``withPostgresDatabase``), as the tests run it.
func withDatabase<Result: Sendable>(
  _ url: String,
  options: PostgresDatabase.Options = .forTests,
  _ body: (PostgresDatabase) async throws -> Result
) async throws -> Result {
  try await withPostgresDatabase(url, options: options, body)
}

/// A registry on `database` (NSMTesting's ``withPostgresRegistry``).
func withRegistry<Result: Sendable>(
  on database: PostgresDatabase,
  configure: (inout RegistryConfiguration) -> Void = { _ in },
  _ body: (ServiceAddress) async throws -> Result
) async throws -> Result {
  try await withPostgresRegistry(on: database, configure: configure, body)
}

/// Open watches of a store of either kind.
func watcherCount(_ store: ServiceStore) -> Int {
  if let memory = store as? MemoryRecordStore<Registry_NetworkService> { return memory.watcherCount }
  if let postgres = store as? PostgresRecordStore<Registry_NetworkService> { return postgres.watcherCount }
  return -1
}
