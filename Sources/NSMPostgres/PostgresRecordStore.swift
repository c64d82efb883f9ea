public import Foundation
internal import Logging
internal import NSMCore
public import NSMStore
internal import PostgresNIO

/// A ``RecordStore`` on PostgreSQL, shared by any number of registry replicas.
///
/// Every write is one transaction that also appends to the change log and notifies the other
/// replicas; it is committed before the call returns. Writers take one transaction-level
/// advisory lock, which orders the change log by commit and makes "replace, keeping the first
/// registration time and registrant" and "delete what expired" exact across replicas: each
/// expired endpoint is deleted, and announced, once.
public final class PostgresRecordStore<Record: PostgresStorable>: RecordStore, Sendable {
  static var writeLockKey: Int64 { 0x6E73_6D5F_7772_6974 }  // "nsm_writ"

  private let client: PostgresClient
  private let feed: ChangeFeed
  private let deadline: Duration
  private let logger: Logger

  init(
    client: PostgresClient,
    feed: ChangeFeed,
    deadline: Duration,
    logger: Logger
  ) {
    self.client = client
    self.feed = feed
    self.deadline = deadline
    self.logger = logger
  }

  /// Open watches on this replica (of every record kind: they share the change feed).
  public var watcherCount: Int { feed.watcherCount }

  public func register(_ record: Record, admit: RegistrantCheck?) async throws -> Record {
    let (client, logger) = (self.client, self.logger)
    let stored = try await withStoreDeadline(deadline, operation: "register \(Record.kind)") {
      try await client.withTransaction(logger: logger) { connection in
        // The lock serializes writers, so the registrant read here is still true at the upsert.
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))", logger: logger)
        var stored = record
        let rows = try await connection.query(
          PostgresQuery(
            unsafeSQL: "SELECT record, registrant FROM \(Record.table) WHERE name = $1",
            binds: Self.binds(record.name)
          ),
          logger: logger
        )
        var registrant: String?
        for try await (bytes, owner) in rows.decode((ByteBuffer, String).self) {
          stored = record.carryingOver(from: try Self.decode(bytes, name: record.name, logger: logger))
          registrant = owner
        }
        try admit?(registrant)
        let encoded = ByteBuffer(bytes: try stored.serializedBytes() as [UInt8])
        try await Self.write(stored, encoded: encoded, on: connection, logger: logger)
        return stored
      }
    }
    feed.poke()
    return stored
  }

  public func unregister(name: String, admit: RegistrantCheck?) async throws -> Record? {
    let (client, logger) = (self.client, self.logger)
    let removed = try await withStoreDeadline(deadline, operation: "unregister \(Record.kind)") {
      try await client.withTransaction(logger: logger) { connection -> Record? in
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))", logger: logger)
        if let admit {
          try admit(
            try await Self.registrant(of: name, logger: logger) { try await connection.query($0, logger: logger) }
          )
        }
        // A row that does not decode throws here, and the whole transaction (delete and change)
        // is rolled back.
        return try await Self.delete(where: "name = $1", Self.binds(name), on: connection, logger: logger)
          .map { try Self.decode($0.record, name: $0.name, logger: logger) }.first
      }
    }
    if removed != nil { feed.poke() }
    return removed
  }

  public func find(_ query: Record) async throws -> [Record] {
    let (client, logger) = (self.client, self.logger)
    return try await withStoreDeadline(deadline, operation: "find \(Record.kind)") {
      try await Self.select(query, logger: logger) { try await client.query($0, logger: logger) }
    }
  }

  public func registrant(of name: String) async throws -> String? {
    let (client, logger) = (self.client, self.logger)
    return try await withStoreDeadline(deadline, operation: "read registrant") {
      try await Self.registrant(of: name, logger: logger) { try await client.query($0, logger: logger) }
    }
  }

  public func watch(_ query: Record, bufferSize: Int) async throws -> RecordWatch<Record> {
    let (client, logger, feed) = (self.client, self.logger, self.feed)
    let clock = ContinuousClock()
    let giveUp = clock.now + deadline
    while clock.now < giveUp {
      // The feed must know where the log stands before a snapshot can be joined to it.
      guard feed.isStarted else {
        try await Task.sleep(for: .milliseconds(20))
        continue
      }
      // One repeatable-read snapshot gives the matches and the change number they reflect.
      let (initial, version) = try await withStoreDeadline(deadline, operation: "watch \(Record.kind)") {
        try await client.withConnection { connection in
          try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
          do {
            let version =
              try await firstValue(connection.query(ChangeFeed.versionQuery, logger: logger), as: Int64.self) ?? 0
            let initial = try await Self.select(query, logger: logger) {
              try await connection.query($0, logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
            return (initial, version)
          } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
          }
        }
      }
      if let events = feed.subscribe(query, bufferSize: bufferSize, version: version) {
        return RecordWatch(initial: initial, events: events)
      }
    }
    throw NSMError.unavailable("could not open a consistent watch: the registry is behind the change log; retry")
  }

  public func removeExpired(now: Date) async throws -> [Record] {
    guard Record.expires else { return [] }
    let (client, logger) = (self.client, self.logger)
    let removed = try await withStoreDeadline(deadline, operation: "remove expired \(Record.kind)s") {
      () async throws -> [Record] in
      // Most ticks find nothing: look before taking the write lock every replica shares.
      let due = try await client.query(
        "SELECT 1 FROM nsm_endpoints WHERE expires_at <= \(now) LIMIT 1",
        logger: logger
      )
      guard try await firstValue(due, as: Int.self) != nil else { return [] }
      return try await client.withTransaction(logger: logger) { connection -> [Record] in
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))", logger: logger)
        var binds = PostgresBindings()
        binds.append(now)
        // A corrupt lease still expires: it is logged by decode and left out of the answer.
        return try await Self.delete(where: "expires_at <= $1", binds, on: connection, logger: logger)
          .compactMap { try? Self.decode($0.record, name: $0.name, logger: logger) }
      }
    }
    if !removed.isEmpty { feed.poke() }
    return removed
  }

  // MARK: SQL

  private static func select(
    _ query: Record,
    logger: Logger,
    run: (PostgresQuery) async throws -> PostgresRowSequence
  ) async throws -> [Record] {
    let (condition, binds) = try Record.filter(query)
    // COLLATE "C": byte order, as the memory store sorts, whatever the database's locale.
    let rows = try await run(
      PostgresQuery(
        unsafeSQL: "SELECT name, record FROM \(Record.table) WHERE \(condition) ORDER BY name COLLATE \"C\"",
        binds: binds
      )
    )
    var records: [Record] = []
    for try await (name, bytes) in rows.decode((String, ByteBuffer).self) {
      let record = try decode(bytes, name: name, logger: logger)
      if record.matches(query: query) { records.append(record) }
    }
    return records
  }

  private static func registrant(
    of name: String,
    logger: Logger,
    run: (PostgresQuery) async throws -> PostgresRowSequence
  ) async throws -> String? {
    try await firstValue(
      run(PostgresQuery(unsafeSQL: "SELECT registrant FROM \(Record.table) WHERE name = $1", binds: binds(name))),
      as: String.self
    )
  }

  /// Appends to the change log, notifies every replica at commit and stores the row, in one
  /// statement (one round trip while the write lock is held, where it took three).
  private static func write(
    _ record: Record,
    encoded: ByteBuffer,
    on connection: PostgresConnection,
    logger: Logger
  ) async throws {
    let upsert = try record.upsert(bytes: encoded)
    var binds = upsert.binds
    let first = binds.count + 1
    binds.append(Record.changeKind)
    binds.append(record.name)
    binds.append(encoded)
    binds.append(ChangeFeed.channel)
    let (kind, name, bytes, channel) = ("$\(first)", "$\(first + 1)", "$\(first + 2)", "$\(first + 3)")
    // The payload names the change (version, kind, key) for anyone listening with psql; the
    // feed itself reads the log from its last position, whatever the payload says.
    let sql = """
      WITH change AS (
        INSERT INTO nsm_changes (kind, name, deleted, record) VALUES (\(kind), \(name), false, \(bytes)) RETURNING seq
      ), notified AS (
        SELECT pg_notify(\(channel), left(change.seq::text || ' ' || \(kind) || ' ' || \(name), 7000)) FROM change
      ), stored AS (
        \(upsert.sql)
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM notified), (SELECT count(*) FROM stored)
      """
    let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    for try await (notified, stored) in rows.decode((Int64, Int64).self) where notified != 1 || stored != 1 {
      throw NSMError(
        .internal,
        "writing \(Record.kind) '\(record.name)' stored \(stored) rows and sent \(notified) notifications"
      )
    }
  }

  /// Deletes the rows `condition` selects (its binds numbered from $1), appending a deletion to
  /// the change log and notifying every replica at commit for each, in one statement; the
  /// deleted rows' names and stored bytes.
  private static func delete(
    where condition: String,
    _ conditionBinds: PostgresBindings,
    on connection: PostgresConnection,
    logger: Logger
  ) async throws -> [(name: String, record: ByteBuffer)] {
    var binds = conditionBinds
    let first = binds.count + 1
    binds.append(Record.changeKind)
    binds.append(ChangeFeed.channel)
    let (kind, channel) = ("$\(first)", "$\(first + 1)")
    let sql = """
      WITH removed AS (
        DELETE FROM \(Record.table) WHERE \(condition) RETURNING name, record
      ), change AS (
        INSERT INTO nsm_changes (kind, name, deleted, record) SELECT \(kind), name, true, record FROM removed
        RETURNING seq, name
      ), notified AS (
        SELECT pg_notify(\(channel), left(seq::text || ' ' || \(kind) || ' ' || name, 7000)) FROM change
      )
      SELECT name, record, (SELECT count(*) FROM notified) FROM removed
      """
    let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    var removed: [(name: String, record: ByteBuffer)] = []
    var notified: Int64 = 0
    for try await (name, record, sent) in rows.decode((String, ByteBuffer, Int64).self) {
      removed.append((name, record))
      notified = sent
    }
    guard removed.isEmpty || notified == removed.count else {
      throw NSMError(.internal, "deleting \(removed.count) \(Record.kind)s sent \(notified) notifications")
    }
    return removed
  }

  /// A stored row back as a record. A row that does not decode is corruption, not an outage:
  /// DATA_LOSS naming the row (retrying cannot help), and an error in the log for the operator.
  private static func decode(_ bytes: ByteBuffer, name: String, logger: Logger) throws(NSMError) -> Record {
    do {
      return try Record(serializedBytes: Array(bytes.readableBytesView))
    } catch {
      logger.error(
        "stored record does not decode",
        metadata: ["table": "\(Record.table)", "name": "\(name)", "error": "\(error)"]
      )
      throw NSMError(.dataLoss, "the stored \(Record.kind) '\(name)' is corrupt and cannot be read")
    }
  }

  private static func binds(_ value: String) -> PostgresBindings {
    var binds = PostgresBindings()
    binds.append(value)
    return binds
  }
}
