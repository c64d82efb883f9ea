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

/// Which of the two writes a ``WriteStatement`` is.
protocol WriteKind {
  static var label: String { get }
  static func row<Record: PostgresStorable>(_: Record.Type) -> String
}

/// ``PostgresStorable/insertRow``: the first registration of a name.
enum Insert: WriteKind {
  static var label: String { "insert" }
  static func row<Record: PostgresStorable>(_: Record.Type) -> String { Record.insertRow }
}

/// ``PostgresStorable/updateRow``: a write over the version read or remembered.
enum Update: WriteKind {
  static var label: String { "update" }
  static func row<Record: PostgresStorable>(_: Record.Type) -> String { Record.updateRow }
}

/// One write with its change-log entry; the row's new version back.
struct WriteStatement<Record: PostgresStorable, Kind: WriteKind>: PostgresPreparedStatement {
  typealias Row = Int64
  // Asked on every execution: the default, the type's reflected name, cost 0.7 % of a refresh.
  static var name: String { "nsm_\(Kind.label)_\(Record.changeKind)" }
  static var sql: String { withChange(Kind.row(Record.self), Record.self) }
  let binds: PostgresBindings
  func makeBindings() -> PostgresBindings { binds }
  func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}

/// Many writes over known versions (``PostgresStorable/updateFromRows``) with their change-log
/// entries, in one statement: one commit for all. Rows are taken in name order, so two batches
/// lock the rows they share in one order and do not deadlock each other. The name and new
/// version of each row written back; a row missing from the answer was written by another
/// write first.
struct UpdateRowsStatement<Record: PostgresStorable>: PostgresPreparedStatement {
  typealias Row = (String, Int64)
  static var name: String { "nsm_update_rows_\(Record.changeKind)" }
  static var sql: String {
    """
    WITH input AS (
      SELECT * FROM \(Record.rowsInput) ORDER BY name COLLATE "C"
    ), stored AS (
      \(Record.updateFromRows)
      RETURNING t.name, t.version, t.record
    ), change AS (
      INSERT INTO nsm_changes (seq, kind, name, deleted, record)
      SELECT version, '\(Record.changeKind)', name, false, record FROM stored
    )
    SELECT name, version FROM stored
    """
  }
  let binds: PostgresBindings
  func makeBindings() -> PostgresBindings { binds }
  func decodeRow(_ row: PostgresRow) throws -> (String, Int64) { try row.decode((String, Int64).self) }
}
