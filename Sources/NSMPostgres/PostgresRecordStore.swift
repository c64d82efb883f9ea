public import Foundation
internal import Logging
internal import NSMCore
public import NSMStore
internal import PostgresNIO
internal import Synchronization

/// A ``RecordStore`` on PostgreSQL, shared by any number of registry replicas.
///
/// Every write is one autocommitted statement that also appends to the change log; it is
/// committed before the call returns. Writers share no lock: a write decides in Swift (the
/// registrant check, what a refresh keeps) on the row as it last saw it, and writes only if the
/// row's version is still that one, else reads the row and decides again. So two writes of one
/// name commit in the order their transactions were numbered, which is the order the change
/// feed reads (see ``ChangeFeed``), and "delete what expired" is exact across replicas: each
/// expired record is deleted, and announced, once.
///
/// The row a write last saw is remembered, so a lease refresh is one statement; a memory that
/// is out of date only costs a read.
public final class PostgresRecordStore<Record: PostgresStorable>: RecordStore, Sendable {
  /// One row as read or written.
  private struct Current: Sendable {
    let record: Record
    let registrant: String
    let version: Int64
  }

  /// Sends one statement on the connection (or pool) at hand.
  private typealias Run = (PostgresQuery) async throws -> PostgresRowSequence

  /// Rows remembered at most; the memory starts over beyond (names written here and then
  /// removed through another replica are never forgotten otherwise).
  static var rememberLimit: Int { 200_000 }

  private let client: PostgresClient
  private let feed: ChangeFeed
  private let deadline: Duration
  private let logger: Logger
  private let known = Mutex<[String: Current]>([:])
  private let updates: WriteBatcher<RowUpdate<Record>, Int64?>

  /// Batches of refreshes written at once by one replica; more wait and go together next.
  static var batchesAtOnce: Int { 2 }
  static var batchLimit: Int { 500 }

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
    self.updates = WriteBatcher(limit: Self.batchesAtOnce, maxBatch: Self.batchLimit) { rows in
      do {
        return try await withStoreDeadline(deadline, operation: "register \(Record.kind)s") {
          try await client.withConnection { connection in
            await Self.writeRows(rows, on: connection, logger: logger)
          }
        }
      } catch {
        return rows.map { _ in .failure(error) }
      }
    }
  }

  /// Open watches on this replica (of every record kind: they share the change feed).
  public var watcherCount: Int { feed.watcherCount }

  public func register(_ record: Record, admit: RegistrantCheck?) async throws -> Record {
    let (client, logger, updates) = (self.client, self.logger, self.updates)
    let stored = try await withStoreDeadline(deadline, operation: "register \(Record.kind)") {
      let run: Run = { try await client.query($0, logger: logger) }
      var remembered = self.remembered(record.name)
      while true {
        let current = try await Self.row(record.name, remembered: remembered, admit: admit, logger: logger, run: run)
        remembered = nil
        let stored = current.map { record.carryingOver(from: $0.record) } ?? record
        let encoded = ByteBuffer(bytes: try stored.serializedBytes() as [UInt8])
        let version: Int64?
        if let current {
          // Most writes are lease refreshes of a row this replica wrote: they go in batches.
          version = try await updates.submit(
            RowUpdate(record: stored, bytes: encoded, expected: current.version),
            key: record.name
          )
        } else {
          version = try await client.withConnection { connection in
            guard let version = try await Self.insert(stored, encoded: encoded, on: connection, logger: logger) else {
              return nil
            }
            try await Self.confirmCommitted(on: connection, logger: logger)
            return version
          }
        }
        if let version {
          self.remember(
            record.name,
            Current(record: stored, registrant: current?.registrant ?? stored.registrant, version: version)
          )
          return stored
        }
        // Another write of this name committed since: decide again on what it left.
        self.forget([record.name])
        try Task.checkCancellation()
      }
    }
    feed.changed()
    return stored
  }

  /// Writes `rows` in one statement and confirms the commit; or, when PostgreSQL refuses the
  /// statement for what a row holds or for a deadlock (it rolled the whole statement back, so
  /// nothing of it was written), each row alone, so that one bad row fails only its own write.
  static func writeRows(
    _ rows: [RowUpdate<Record>],
    on connection: PostgresConnection,
    logger: Logger
  ) async -> [Result<Int64?, any Error>] {
    if rows.count > 1 {
      do {
        var written: [String: Int64] = [:]
        let statement = UpdateRowsStatement<Record>(binds: try Record.rowsBindings(rows))
        for try await (name, version) in try await connection.execute(statement, logger: logger) {
          written[name] = version
        }
        try await confirmCommitted(on: connection, logger: logger)
        return rows.map { .success(written[$0.record.name]) }
      } catch let error as PSQLError where isRefusal(error) {
        logger.debug(
          "batched write refused; writing its rows one by one",
          metadata: ["rows": "\(rows.count)", "error": "\(error.serverInfo?[.message] ?? "")"]
        )
      } catch {
        return rows.map { _ in .failure(error) }
      }
    }
    var results: [Result<Int64?, any Error>] = []
    for row in rows {
      do {
        var binds = try row.record.rowBindings(bytes: row.bytes)
        binds.append(row.expected)
        let version = try await firstRow(
          connection.execute(WriteStatement<Record, Update>(binds: binds), logger: logger)
        )
        if version != nil { try await confirmCommitted(on: connection, logger: logger) }
        results.append(.success(version))
      } catch let error as PSQLError where isRefusal(error) {
        results.append(.failure(error))
      } catch {
        // The connection is gone: neither this row nor those after it were written.
        results += Array(repeating: .failure(error), count: rows.count - results.count)
        break
      }
    }
    return results
  }

  /// An error PostgreSQL answered a statement with that is about the statement (its data, a
  /// deadlock), not about the connection or the server.
  private static func isRefusal(_ error: PSQLError) -> Bool {
    guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
    return !(state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53"))
  }

  public func unregister(name: String, admit: RegistrantCheck?) async throws -> Record? {
    let (client, logger) = (self.client, self.logger)
    let removed = try await withStoreDeadline(deadline, operation: "unregister \(Record.kind)") {
      try await client.withConnection { connection -> Record? in
        let run: Run = { try await connection.query($0, logger: logger) }
        var remembered = self.remembered(name)
        while true {
          // A corrupt row fails the read with DATA_LOSS, before anything is deleted.
          let current = try await Self.row(name, remembered: remembered, admit: admit, logger: logger, run: run)
          remembered = nil
          guard let current else { return nil }
          var binds = Self.binds(name)
          binds.append(current.version)
          let deleted = try await Self.delete(where: "name = $1 AND version = $2", binds, run: run)
          self.forget([name])
          if !deleted.isEmpty {
            try await Self.confirmCommitted(on: connection, logger: logger)
            return current.record
          }
          try Task.checkCancellation()
        }
      }
    }
    if removed != nil { feed.changed() }
    return removed
  }

  /// The row to decide on, checked: the remembered one if the check admits it, else the row as
  /// read now. A refusal of a remembered row does not count (the name may have changed owner
  /// since); only one of the row as it is.
  private static func row(
    _ name: String,
    remembered: Current?,
    admit: RegistrantCheck?,
    logger: Logger,
    run: Run
  ) async throws -> Current? {
    if let row = remembered, admit == nil || (try? admit?(row.registrant)) != nil { return row }
    let current = try await Self.current(name, logger: logger, run: run)
    try admit?(current?.registrant)
    return current
  }

  private func remembered(_ name: String) -> Current? {
    known.withLock { $0[name] }
  }

  private func remember(_ name: String, _ row: Current) {
    known.withLock { known in
      if known.count >= Self.rememberLimit { known.removeAll(keepingCapacity: true) }
      known[name] = row
    }
  }

  private func forget(_ names: some Sequence<String>) {
    known.withLock { known in
      for name in names { known[name] = nil }
    }
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
      let (initial, snapshot, serverStart) = try await withStoreDeadline(deadline, operation: "watch \(Record.kind)") {
        try await client.withConnection { connection in
          try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
          do {
            var (text, serverStart) = ("", "")
            for try await row in try await connection.query(
              "SELECT pg_current_snapshot()::text, pg_postmaster_start_time()::text",
              logger: logger
            ).decode((String, String).self) {
              (text, serverStart) = row
            }
            guard let snapshot = XidSnapshot(text) else {
              throw NSMError(.internal, "PostgreSQL returned a snapshot that does not parse: '\(text)'")
            }
            let initial = try await Self.select(query, logger: logger) {
              try await connection.query($0, logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
            return (initial, snapshot, serverStart)
          } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
          }
        }
      }
      if let events = feed.subscribe(query, bufferSize: bufferSize, snapshot: snapshot, serverStart: serverStart) {
        return RecordWatch(initial: initial, events: events)
      }
      // The feed is behind this snapshot (a restart it has not read yet) or ahead of it: read
      // the log now and try again shortly.
      feed.poke()
      try await Task.sleep(for: .milliseconds(10))
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
          let deleted = try await Self.delete(
            where: "(name, version) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))",
            binds,
            run: run
          )
          self.forget(deleted.map(\.name))
          // A corrupt lease still expires: it is logged by decode and left out of the answer.
          removed += deleted.compactMap { try? Self.decode($0.record, name: $0.name, logger: logger) }
          if names.count < 1000 { return removed }
        }
      }
    }
    if !removed.isEmpty { feed.changed() }
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

  /// Inserts the row unless one of its name exists, appending to the change log in the same
  /// statement (prepared once per connection); the new version, or nil when another write came
  /// first and nothing changed.
  private static func insert(
    _ record: Record,
    encoded: ByteBuffer,
    on connection: PostgresConnection,
    logger: Logger
  ) async throws -> Int64? {
    var binds = try record.rowBindings(bytes: encoded)
    binds.append(record.registrant)
    return try await firstRow(connection.execute(WriteStatement<Record, Insert>(binds: binds), logger: logger))
  }

  private static func firstRow(_ rows: AsyncThrowingMapSequence<PostgresRowSequence, Int64>) async throws -> Int64? {
    for try await version in rows { return version }
    return nil
  }

  /// Returns once the statement just sent on this connection has committed. PostgresNIO ends a
  /// statement's rows at CommandComplete, which PostgreSQL sends before an autocommitted
  /// statement commits (at the Sync that follows); the connection starts the next statement
  /// only after the ReadyForQuery that comes after the commit. A connection lost in between
  /// fails this, and so the call: an acknowledged write is a committed one.
  private static func confirmCommitted(on connection: PostgresConnection, logger: Logger) async throws {
    _ = try await firstValue(connection.query("SELECT 1", logger: logger), as: Int32.self)
  }

  /// Deletes the rows `condition` selects (its binds numbered from $1), appending a deletion to
  /// the change log for each, in one statement; the deleted rows' names and stored bytes.
  private static func delete(
    where condition: String,
    _ conditionBinds: PostgresBindings,
    run: Run
  ) async throws -> [(name: String, record: ByteBuffer)] {
    var binds = conditionBinds
    binds.append(Record.changeKind)
    let kind = "$\(binds.count)"
    let sql = """
      WITH removed AS (
        DELETE FROM \(Record.table) WHERE \(condition) RETURNING name, record
      ), change AS (
        INSERT INTO nsm_changes (kind, name, deleted, record) SELECT \(kind), name, true, record FROM removed
      )
      SELECT name, record FROM removed
      """
    var removed: [(name: String, record: ByteBuffer)] = []
    for try await (name, record) in try await run(PostgresQuery(unsafeSQL: sql, binds: binds)).decode(
      (String, ByteBuffer).self
    ) {
      removed.append((name, record))
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
