public import Logging
public import PostgresNIO

/// The schema, as numbered steps. A step is applied once, in order, in its own transaction, and
/// recorded in `nsm_schema_migrations`; all of it runs under a session advisory lock so that
/// replicas starting together cannot race. Never edit a released step: add one.
public enum Migrations {
  struct Step: Sendable {
    let version: Int
    let name: String
    let statements: [String]
  }

  /// Arbitrary but fixed: `pg_advisory_lock` key of the migration run.
  static let lockKey: Int64 = 0x6E73_6D5F_6D69_6772  // "nsm_migr"

  static let steps: [Step] = [
    Step(
      version: 1,
      name: "registry tables, change log",
      statements: [
        """
        CREATE TABLE nsm_network_services (
          name text PRIMARY KEY,
          payload text NOT NULL,
          record bytea NOT NULL,
          registrant text NOT NULL,
          version bigint NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE nsm_endpoints (
          name text PRIMARY KEY,
          service_names text[] NOT NULL,
          service_labels jsonb NOT NULL,
          url text NOT NULL,
          expires_at timestamptz,
          record bytea NOT NULL,
          registrant text NOT NULL,
          version bigint NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX nsm_endpoints_service_names ON nsm_endpoints USING gin (service_names)",
        "CREATE INDEX nsm_endpoints_service_labels ON nsm_endpoints USING gin (service_labels jsonb_path_ops)",
        "CREATE INDEX nsm_endpoints_expires_at ON nsm_endpoints (expires_at) WHERE expires_at IS NOT NULL",
        """
        CREATE TABLE nsm_changes (
          seq bigserial PRIMARY KEY,
          kind text NOT NULL,
          name text NOT NULL,
          deleted boolean NOT NULL,
          record bytea NOT NULL,
          at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX nsm_changes_at ON nsm_changes (at)",
        "CREATE TABLE nsm_change_horizon (id int PRIMARY KEY CHECK (id = 1), pruned_through bigint NOT NULL)",
        "INSERT INTO nsm_change_horizon VALUES (1, 0)",
      ]
    ),
    // Writers no longer share a lock, so they commit out of order: each change records the
    // transaction that wrote it, and the feed reads in (transaction, seq) order below the oldest
    // running transaction (see ChangeFeed). Existing rows get this migration's transaction.
    Step(
      version: 2,
      name: "change log ordered by writing transaction",
      statements: [
        "ALTER TABLE nsm_changes ADD COLUMN tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)",
        "CREATE INDEX nsm_changes_tx_seq ON nsm_changes (tx, seq)",
        "ALTER TABLE nsm_change_horizon ADD COLUMN pruned_tx bigint NOT NULL DEFAULT 0",
      ]
    ),
  ]

  /// The newest schema version this build knows.
  public static var latestVersion: Int { steps.last?.version ?? 0 }

  /// Applies every step not yet applied; returns the versions it applied.
  @discardableResult
  public static func run(on client: PostgresClient, logger: Logger) async throws -> [Int] {
    try await client.withConnection { connection in
      try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
      do {
        let applied = try await apply(on: connection, logger: logger)
        try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
        return applied
      } catch {
        _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
        throw error
      }
    }
  }

  private static func apply(on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
    try await connection.query(
      """
      CREATE TABLE IF NOT EXISTS nsm_schema_migrations (
        version int PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )
      """,
      logger: logger
    )
    var done = Set<Int>()
    for try await version in try await connection.query("SELECT version FROM nsm_schema_migrations", logger: logger)
      .decode(Int.self)
    {
      done.insert(version)
    }
    if let newest = done.max(), newest > latestVersion {
      throw MigrationError(
        "the database schema is at version \(newest), newer than this build's \(latestVersion); upgrade nsm"
      )
    }
    var applied: [Int] = []
    for step in steps where !done.contains(step.version) {
      try await connection.query("BEGIN", logger: logger)
      do {
        for statement in step.statements {
          try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        try await connection.query(
          "INSERT INTO nsm_schema_migrations (version, name) VALUES (\(step.version), \(step.name))",
          logger: logger
        )
        try await connection.query("COMMIT", logger: logger)
      } catch {
        _ = try? await connection.query("ROLLBACK", logger: logger)
        throw error
      }
      logger.info("applied schema migration", metadata: ["version": "\(step.version)", "name": "\(step.name)"])
      applied.append(step.version)
    }
    return applied
  }
}

public struct MigrationError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
