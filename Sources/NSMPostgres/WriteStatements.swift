internal import NSMStore
internal import PostgresNIO

// The two writes a Register makes, as statements PostgresNIO prepares once per connection: the
// row and its change-log entry in one statement, the new version back. Prepared, PostgreSQL
// plans the data-modifying CTE once instead of on every write (pgbench measured the replayed
// refresh at 1.6-1.8 times the rate with -M prepared against -M extended).

/// The change-log entry for the row `stored` returns, and its number (the row's new version).
private func withChange<Record: PostgresStorable>(_ row: String, _: Record.Type) -> String {
  """
  WITH stored AS (
    \(row)
    RETURNING version
  ), change AS (
    INSERT INTO nsm_changes (seq, kind, name, deleted, record)
    SELECT version, '\(Record.changeKind)', $\(Record.nameParameter), false, $\(Record.recordParameter) FROM stored
    RETURNING seq
  )
  SELECT seq FROM change
  """
}

/// ``PostgresStorable/insertRow`` with its change.
struct InsertStatement<Record: PostgresStorable>: PostgresPreparedStatement {
  typealias Row = Int64
  // Asked on every execution: the default, the type's reflected name, cost 0.7 % of a refresh.
  static var name: String { "nsm_insert_" + Record.changeKind }
  static var sql: String { withChange(Record.insertRow, Record.self) }
  let binds: PostgresBindings
  func makeBindings() -> PostgresBindings { binds }
  func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

/// ``PostgresStorable/updateRow`` with its change.
struct UpdateStatement<Record: PostgresStorable>: PostgresPreparedStatement {
  typealias Row = Int64
  static var name: String { "nsm_update_" + Record.changeKind }
  static var sql: String { withChange(Record.updateRow, Record.self) }
  let binds: PostgresBindings
  func makeBindings() -> PostgresBindings { binds }
  func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}
