internal import Foundation
public import NSMAPI
public import NSMStore
public import PostgresNIO
public import SwiftProtobuf

/// What the PostgreSQL store needs to know of a record kind: its table, the columns Find
/// filters on, and how a Find template becomes a WHERE clause.
///
/// Every row keeps the whole wire message (`record`), so no field is ever lost; the other
/// columns are derived from it for indexed filtering.
public protocol PostgresStorable: RegistryRecord, SwiftProtobuf.Message {
  /// `ns` or `nse` in the change log.
  static var changeKind: String { get }
  static var table: String { get }
  /// Whether rows of this kind carry `expires_at` (endpoints are leases, services are not).
  static var expires: Bool { get }

  /// Inserts the row unless one of this name exists (`ON CONFLICT (name) DO NOTHING`), its
  /// version drawn from the change log's sequence. Parameters: ``rowBindings(bytes:)``, then
  /// the registrant. The store prepares it once per connection and appends `RETURNING version`:
  /// no row back means another write came first.
  static var insertRow: String { get }

  /// Replaces the row only if its version is still the one read or remembered, with a new
  /// version from the change log's sequence; `registrant` is left as it is. Parameters:
  /// ``rowBindings(bytes:)``, then the expected version.
  static var updateRow: String { get }

  /// The parameter numbers of the name and of the record's bytes in ``rowBindings(bytes:)``.
  static var nameParameter: Int { get }
  static var recordParameter: Int { get }

  /// The values of the row's columns, numbered from $1, for ``insertRow`` and ``updateRow``.
  func rowBindings(bytes: ByteBuffer) throws -> PostgresBindings

  /// ``updateRow`` for many rows at once: `unnest` of the arrays ``rowsBindings(_:)`` makes,
  /// as `i(...)` with a `name` and an `expected` column.
  static var rowsInput: String { get }

  /// The UPDATE of ``updateRows``: the table as `t`, the rows of ``rowsInput`` as `i`, each
  /// written only if its version is still `i.expected`; `RETURNING` is appended.
  static var updateFromRows: String { get }

  /// The arrays ``rowsInput`` takes, one element per row, the expected versions last.
  static func rowsBindings(_ rows: [RowUpdate<Self>]) throws -> PostgresBindings

  /// The WHERE clause (with its binds) selecting what can match `query`; matching is then
  /// finished in Swift with ``RegistryRecord/matches(query:)``, so the semantics are exactly
  /// the memory store's.
  static func filter(_ query: Self) throws -> (sql: String, binds: PostgresBindings)
}

extension Registry_NetworkService: PostgresStorable {
  public static var changeKind: String { "ns" }
  public static var table: String { "nsm_network_services" }
  public static var expires: Bool { false }

  public static var insertRow: String {
    """
    INSERT INTO nsm_network_services (name, payload, record, registrant, version, updated_at)
    VALUES ($3, $1, $2, $4, nextval('nsm_changes_seq_seq'), now())
    ON CONFLICT (name) DO NOTHING
    """
  }

  public static var updateRow: String {
    """
    UPDATE nsm_network_services
    SET payload = $1, record = $2, version = nextval('nsm_changes_seq_seq'), updated_at = now()
    WHERE name = $3 AND version = $4
    """
  }

  public static var nameParameter: Int { 3 }
  public static var recordParameter: Int { 2 }

  public static var rowsInput: String {
    "unnest($1::text[], $2::bytea[], $3::text[], $4::bigint[]) AS i(payload, record, name, expected)"
  }

  public static var updateFromRows: String {
    """
    UPDATE nsm_network_services t
    SET payload = i.payload, record = i.record, version = nextval('nsm_changes_seq_seq'), updated_at = now()
    FROM input i
    WHERE t.name = i.name AND t.version = i.expected
    """
  }

  public static func rowsBindings(_ rows: [RowUpdate<Self>]) throws -> PostgresBindings {
    var binds = PostgresBindings(capacity: 4)
    binds.append(rows.map(\.record.payload))
    binds.append(rows.map(\.bytes))
    binds.append(rows.map(\.record.name))
    binds.append(rows.map(\.expected))
    return binds
  }

  public func rowBindings(bytes: ByteBuffer) throws -> PostgresBindings {
    var binds = PostgresBindings(capacity: 4)
    binds.append(payload)
    binds.append(bytes)
    binds.append(name)
    return binds
  }

  public static func filter(_ query: Self) throws -> (sql: String, binds: PostgresBindings) {
    var clause = SQLClause()
    if !query.name.isEmpty { clause.add("name = $", query.name) }
    if !query.payload.isEmpty { clause.add("payload = $", query.payload) }
    return clause.build()
  }
}

extension Registry_NetworkServiceEndpoint: PostgresStorable {
  public static var changeKind: String { "nse" }
  public static var table: String { "nsm_endpoints" }
  public static var expires: Bool { true }

  public static var insertRow: String {
    """
    INSERT INTO nsm_endpoints
      (name, service_names, service_labels, url, expires_at, record, registrant, version, updated_at)
    VALUES ($6, $1, $2::jsonb, $3, $4, $5, $7, nextval('nsm_changes_seq_seq'), now())
    ON CONFLICT (name) DO NOTHING
    """
  }

  public static var updateRow: String {
    """
    UPDATE nsm_endpoints
    SET service_names = $1, service_labels = $2::jsonb, url = $3, expires_at = $4, record = $5,
        version = nextval('nsm_changes_seq_seq'), updated_at = now()
    WHERE name = $6 AND version = $7
    """
  }

  public static var nameParameter: Int { 6 }
  public static var recordParameter: Int { 5 }

  public static var rowsInput: String {
    """
    unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::text[], $7::bigint[])
      AS i(service_names, service_labels, url, expires_us, record, name, expected)
    """
  }

  // A row's service names come as a JSON array (arrays of arrays must be rectangular), its
  // expiry as microseconds since 1970 (an array element cannot be NULL here: no expiry is
  // Int64.min).
  public static var updateFromRows: String {
    """
    UPDATE nsm_endpoints t
    SET service_names = ARRAY(SELECT jsonb_array_elements_text(i.service_names::jsonb)),
        service_labels = i.service_labels::jsonb, url = i.url,
        expires_at = 'epoch'::timestamptz
          + nullif(i.expires_us, -9223372036854775808) * interval '1 microsecond',
        record = i.record, version = nextval('nsm_changes_seq_seq'), updated_at = now()
    FROM input i
    WHERE t.name = i.name AND t.version = i.expected
    """
  }

  public static func rowsBindings(_ rows: [RowUpdate<Self>]) throws -> PostgresBindings {
    var binds = PostgresBindings(capacity: 7)
    binds.append(
      rows.map { row in
        var json = "["
        for (index, service) in row.record.networkServiceNames.enumerated() {
          if index > 0 { json += "," }
          appendJSONString(service, to: &json)
        }
        return json + "]"
      }
    )
    binds.append(try rows.map { try labelsJSON($0.record.networkServiceLabels) })
    binds.append(rows.map(\.record.url))
    binds.append(rows.map { $0.record.expiration.map(Self.microsecondsSince1970) ?? .min })
    binds.append(rows.map(\.bytes))
    binds.append(rows.map(\.record.name))
    binds.append(rows.map(\.expected))
    return binds
  }

  /// Truncated, as PostgresNIO encodes a `Date`: a lease never ends later than it says.
  static func microsecondsSince1970(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
  }

  public func rowBindings(bytes: ByteBuffer) throws -> PostgresBindings {
    var binds = PostgresBindings(capacity: 7)
    binds.append(networkServiceNames)
    binds.append(try Self.labelsJSON(networkServiceLabels))
    binds.append(url)
    binds.append(expiration)
    binds.append(bytes)
    binds.append(name)
    return binds
  }

  public static func filter(_ query: Self) throws -> (sql: String, binds: PostgresBindings) {
    var clause = SQLClause()
    if !query.name.isEmpty { clause.add("name = $", query.name) }
    if !query.networkServiceNames.isEmpty { clause.add("service_names @> $", query.networkServiceNames) }
    if !query.networkServiceLabels.isEmpty {
      // JSONB containment is upstream's rule: each queried service present, its labels contained.
      clause.add("service_labels @> $::jsonb", try labelsJSON(query.networkServiceLabels))
    }
    // strpos, not LIKE: '%' and '_' in a URL are not patterns.
    if !query.url.isEmpty { clause.add("strpos(url, $) > 0", query.url) }
    if query.hasExpirationTime {
      clause.add("floor(extract(epoch FROM expires_at))::bigint = $", query.expirationTime.seconds)
    }
    return clause.build()
  }

  /// `{"service": {"label": "value"}}`, keys sorted. Written by hand: Foundation's
  /// JSONSerialization cost 1.5 % of a lease refresh.
  static func labelsJSON(_ labels: [String: Registry_NetworkServiceLabels]) throws -> String {
    var json = "{"
    for (index, service) in labels.keys.sorted().enumerated() {
      if index > 0 { json += "," }
      appendJSONString(service, to: &json)
      json += ":{"
      let values = labels[service]?.labels ?? [:]
      for (position, key) in values.keys.sorted().enumerated() {
        if position > 0 { json += "," }
        appendJSONString(key, to: &json)
        json += ":"
        appendJSONString(values[key] ?? "", to: &json)
      }
      json += "}"
    }
    return json + "}"
  }

  /// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
  static func appendJSONString(_ text: String, to json: inout String) {
    json += "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": json += "\\\""
      case "\\": json += "\\\\"
      case "\n": json += "\\n"
      case "\r": json += "\\r"
      case "\t": json += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: json.unicodeScalars.append(scalar)
      }
    }
    json += "\""
  }
}

/// One row of a batched update: the record, its encoding, and the version it replaces.
public struct RowUpdate<Record: PostgresStorable>: Sendable {
  public let record: Record
  public let bytes: ByteBuffer
  public let expected: Int64
}

/// A WHERE clause built from optional conditions, each with one `$` placeholder.
struct SQLClause {
  private var conditions: [String] = []
  private var binds = PostgresBindings()

  mutating func add(_ condition: String, _ value: some PostgresDynamicTypeEncodable) {
    binds.append(value)
    conditions.append(condition.replacingOccurrences(of: "$", with: "$\(binds.count)"))
  }

  func build() -> (sql: String, binds: PostgresBindings) {
    (conditions.isEmpty ? "TRUE" : conditions.joined(separator: " AND "), binds)
  }
}
