import BenchSupport
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import PostgresNIO
import ServiceLifecycle

// One registry replica on PostgreSQL, as the tests run it (NSMTesting's withPostgresDatabase and
// withPostgresRegistry), with the pool size as a parameter and a long expire period.

/// A running ``PostgresDatabase`` on `url`, migrated, with its pool and change feed, for `body`.
func withDatabase<Result: Sendable>(
  _ url: String,
  poolSize: Int,
  _ body: (NSMPostgres.PostgresDatabase) async throws -> Result
) async throws -> Result {
  try await withPostgresDatabase(url, poolSize: poolSize, logLevel: .error, body)
}

/// A `RegistryServer` on `database`'s stores, on 127.0.0.1 port 0, for `body`. The expire period
/// is one hour, so nothing the benchmark registers expires during a run.
func withRegistry<Result: Sendable>(
  on database: NSMPostgres.PostgresDatabase,
  _ body: (ServiceAddress) async throws -> Result
) async throws -> Result {
  try await withPostgresRegistry(on: database, configure: { $0.expirePeriod = .seconds(3600) }, logLevel: .error, body)
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
