public import Foundation
internal import Logging
internal import NSMCore
public import NSMStore
internal import PostgresNIO

/// A ``RecordStore`` on PostgreSQL, shared by any number of registry replicas.
///
/// Every write is one statement that also appends to the change log and notifies the other
/// replicas; it is committed before the call returns. Writers share no lock: a write reads the
/// row, decides in Swift (the registrant check, what a refresh keeps) and writes only if the
/// row's version is still the one it read, else reads again. So two writes of one name commit
/// in the order their transactions were numbered, which is the order the change feed reads
/// (see ``ChangeFeed``), and "delete what expired" is exact across replicas: each expired
/// endpoint is deleted, and announced, once.
public final class PostgresRecordStore<Record: PostgresStorable>: RecordStore, Sendable {
  /// One row as read before a write.
  private struct Current {
    let record: Record
    let registrant: String
    let version: Int64
  }

  /// Sends one statement on the connection (or pool) at hand.
  private typealias Run = (PostgresQuery) async throws -> PostgresRowSequence

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
      try await client.withConnection { connection in
        let run: Run = { try await connection.query($0, logger: logger) }
        while true {
          let current = try await Self.current(record.name, logger: logger, run: run)
          try admit?(current?.registrant)
          let stored = current.map { record.carryingOver(from: $0.record) } ?? record
          let encoded = ByteBuffer(bytes: try stored.serializedBytes() as [UInt8])
          if try await Self.write(stored, encoded: encoded, replacing: current?.version ?? -1, logger: logger, run: run)
          {
            return stored
          }
          // Another write of this name committed since the read: decide again on what it left.
          try Task.checkCancellation()
        }
      }
    }
    feed.poke()
    return stored
  }

  public func unregister(name: String, admit: RegistrantCheck?) async throws -> Record? {
    let (client, logger) = (self.client, self.logger)
    let removed = try await withStoreDeadline(deadline, operation: "unregister \(Record.kind)") {
      try await client.withConnection { connection -> Record? in
        let run: Run = { try await connection.query($0, logger: logger) }
        while true {
          // Read (and decode) first: a corrupt row fails with DATA_LOSS and stays.
          let current = try await Self.current(name, logger: logger, run: run)
          try admit?(current?.registrant)
          guard let current else { return nil }
          var binds = Self.binds(name)
          binds.append(current.version)
          if try await !Self.delete(where: "name = $1 AND version = $2", binds, logger: logger, run: run).isEmpty {
            return current.record
          }
          try Task.checkCancellation()
        }
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
      // One repeatable-read snapshot gives the matches and which writers' changes they hold.
      let (initial, snapshot) = try await withStoreDeadline(deadline, operation: "watch \(Record.kind)") {
        try await client.withConnection { connection in
          try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
          do {
            let text = try await firstValue(
              connection.query("SELECT pg_current_snapshot()::text", logger: logger),
              as: String.self
            )
            guard let snapshot = text.flatMap(XidSnapshot.init) else {
              throw NSMError(.internal, "PostgreSQL returned a snapshot that does not parse: \(text ?? "none")")
            }
            let initial = try await Self.select(query, logger: logger) {
              try await connection.query($0, logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
            return (initial, snapshot)
          } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
          }
        }
      }
      if let events = feed.subscribe(query, bufferSize: bufferSize, snapshot: snapshot) {
        return RecordWatch(initial: initial, events: events)
      }
    }
    throw NSMError.unavailable("could not open a consistent watch: the registry is behind the change log; retry")
  }

  public func removeExpired(now: Date) async throws -> [Record] {
    guard Record.expires else { return [] }
    let (client, logger) = (self.client, self.logger)
    let removed = try await withStoreDeadline(deadline, operation: "remove expired \(Record.kind)s") {
      try await client.withConnection { connection -> [Record] in
        let run: Run = { try await connection.query($0, logger: logger) }
        var removed: [Record] = []
        while true {
          // The leases due, then a delete of exactly those versions: a lease refreshed in
          // between is kept, and of replicas racing on one lease only one deletes it.
          let due = try await run("SELECT name, version FROM nsm_endpoints WHERE expires_at <= \(now) LIMIT 1000")
          var (names, versions) = ([String](), [Int64]())
          for try await (name, version) in due.decode((String, Int64).self) {
            names.append(name)
            versions.append(version)
          }
          if names.isEmpty { return removed }
          var binds = PostgresBindings()
          binds.append(names)
          binds.append(versions)
          // A corrupt lease still expires: it is logged by decode and left out of the answer.
          removed += try await Self.delete(
            where: "(name, version) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))",
            binds,
            logger: logger,
            run: run
          ).compactMap { try? Self.decode($0.record, name: $0.name, logger: logger) }
          if names.count < 1000 { return removed }
        }
      }
    }
    if !removed.isEmpty { feed.poke() }
    return removed
  }

  // MARK: SQL

  private static func select(
    _ query: Record,
    logger: Logger,
    run: Run
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
    run: Run
  ) async throws -> String? {
    try await firstValue(
      run(PostgresQuery(unsafeSQL: "SELECT registrant FROM \(Record.table) WHERE name = $1", binds: binds(name))),
      as: String.self
    )
  }

  /// The row of `name` as it is now, decoded (DATA_LOSS if it does not decode).
  private static func current(_ name: String, logger: Logger, run: Run) async throws -> Current? {
    let rows = try await run(
      PostgresQuery(
        unsafeSQL: "SELECT record, registrant, version FROM \(Record.table) WHERE name = $1",
        binds: binds(name)
      )
    )
    for try await (bytes, registrant, version) in rows.decode((ByteBuffer, String, Int64).self) {
      return Current(record: try decode(bytes, name: name, logger: logger), registrant: registrant, version: version)
    }
    return nil
  }

  /// Stores the row if its version is still `expected` (-1: there was none), appending to the
  /// change log and notifying every replica at commit, in one statement; false when another
  /// write came first and nothing changed.
  private static func write(
    _ record: Record,
    encoded: ByteBuffer,
    replacing expected: Int64,
    logger: Logger,
    run: Run
  ) async throws -> Bool {
    let upsert = try record.upsert(bytes: encoded, replacing: expected)
    var binds = upsert.binds
    let first = binds.count + 1
    binds.append(Record.changeKind)
    binds.append(record.name)
    binds.append(encoded)
    binds.append(ChangeFeed.channel)
    let (kind, name, bytes, channel) = ("$\(first)", "$\(first + 1)", "$\(first + 2)", "$\(first + 3)")
    // The change takes the row's new version as its number. The payload names the change
    // (number, kind, key) for anyone listening with psql; the feed itself reads the log.
    let sql = """
      WITH stored AS (
        \(upsert.sql)
        RETURNING version
      ), change AS (
        INSERT INTO nsm_changes (seq, kind, name, deleted, record)
        SELECT version, \(kind), \(name), false, \(bytes) FROM stored RETURNING seq
      ), notified AS (
        SELECT pg_notify(\(channel), left(change.seq::text || ' ' || \(kind) || ' ' || \(name), 7000)) FROM change
      )
      SELECT (SELECT count(*) FROM stored), (SELECT count(*) FROM notified)
      """
    let rows = try await run(PostgresQuery(unsafeSQL: sql, binds: binds))
    var written = false
    for try await (stored, notified) in rows.decode((Int64, Int64).self) {
      guard stored == notified, stored <= 1 else {
        throw NSMError(
          .internal,
          "writing \(Record.kind) '\(record.name)' stored \(stored) rows and sent \(notified) notifications"
        )
      }
      written = stored == 1
    }
    return written
  }

  /// Deletes the rows `condition` selects (its binds numbered from $1), appending a deletion to
  /// the change log and notifying every replica at commit for each, in one statement; the
  /// deleted rows' names and stored bytes.
  private static func delete(
    where condition: String,
    _ conditionBinds: PostgresBindings,
    logger: Logger,
    run: Run
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
    let rows = try await run(PostgresQuery(unsafeSQL: sql, binds: binds))
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
