import BenchSupport
import Foundation
import NSMAPI
import NSMPostgres
import NSMTesting
import PostgresNIO
import Synchronization

/// What one sustained lease-refresh load did.
struct RefreshLoadResult: Sendable {
  var endpoints: Int
  var period: Duration
  var measured: Duration
  /// Refreshes due in the measured window, and done in it.
  var due: Int
  var done: Int
  var failed: Int
  /// How late each measured refresh finished after it was due, sorted (nanoseconds).
  var lateness: [Int64]
  /// From the start of the measured window to the last measured refresh's end.
  var elapsed: Duration
  var benchCPU: Duration
  var databaseCPU: Duration?
  /// `pg_stat_wal` over the measured window: WAL flushes and records.
  var walSyncs: Int64
  var walRecords: Int64
  /// With `statements`: pg_stat_statements over the measured window, as a Markdown table.
  var statements = ""

  var targetRate: Double { Double(endpoints) / period.seconds }
  /// Refreshes done per second of the time they took (longer than the window when a backlog
  /// built up).
  var achievedRate: Double { Double(done) / elapsed.seconds }
}

/// Counters the refresh workers share.
private final class RefreshProgress: Sendable {
  struct State {
    var lateness: [Int64] = []
    var lastEnd: ContinuousClock.Instant?
    var done = 0
    var failed = 0
  }
  let state = Mutex(State())
  let nextA = Atomic(0)
  let nextB = Atomic(0)

  /// The next refresh of replica `side` to send.
  func take(_ side: Int) -> Int {
    if side == 0 { return nextA.wrappingAdd(1, ordering: .relaxed).oldValue }
    return nextB.wrappingAdd(1, ordering: .relaxed).oldValue
  }
}

/// `endpoints` NSEs, each renewing its lease every `period`, spread evenly in time and over two
/// replicas (PostgresDatabase each, on one database), open loop: a refresh is due at its time
/// whether or not the previous ones finished, and `concurrency` workers per replica send them.
/// One whole period runs unmeasured first (every replica then remembers the rows it refreshes,
/// as a running registry does), then `measured`.
func runRefreshLoad(
  on server: BenchServer,
  endpoints: Int,
  period: Duration,
  measured: Duration,
  concurrency: Int,
  pool: Int,
  statements: Bool = false
) async throws -> RefreshLoadResult {
  let url = try await server.makeDatabase()
  return try await withDatabase(url, poolSize: pool) { a in
    try await withDatabase(url, poolSize: pool) { b in
      progress("refresh load: loading \(endpoints) endpoints ...")
      try await preload(endpoints, into: a)
      if statements { try await a.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements") }
      guard let backend = pid_t(try await a.texts("SELECT pg_backend_pid()::text").first ?? ""),
        let postmaster = procStat(backend)?.parent
      else { throw BenchError("cannot find the PostgreSQL server's processes in /proc") }

      let replicas = [a, b]
      let perReplica = endpoints / 2
      let interval = period / perReplica  // between two refreshes due on one replica
      let clock = ContinuousClock()
      let start = clock.now + .milliseconds(200)
      let measureFrom = start + period
      let end = measureFrom + measured
      let shared = RefreshProgress()
      var before: (cpu: Duration, database: Duration?, wal: (Int64, Int64)) = (.zero, nil, (0, 0))

      progress(
        "refresh load: \(endpoints) endpoints every \(period) (\(format(Double(endpoints) / period.seconds, digits: 0))/s), "
          + "\(concurrency) in flight per replica; \(period) unmeasured, then \(measured) ..."
      )
      try await withThrowingTaskGroup(of: Void.self) { group in
        for (side, replica) in replicas.enumerated() {
          for _ in 0..<concurrency {
            group.addTask {
              while true {
                let j = shared.take(side)
                let due = start + interval * j
                if due >= end { return }
                if due > clock.now { try await clock.sleep(until: due) }
                let name = "load-nse-\(2 * (j % perReplica) + side)"
                do {
                  _ = try await replica.endpoints.register(Fixtures.endpoint(name, expiresIn: 3600))
                  let late = clock.now - due
                  if due >= measureFrom {
                    shared.state.withLock {
                      $0.done += 1
                      $0.lastEnd = clock.now
                      $0.lateness.append(Int64(late.seconds * 1e9))
                    }
                  }
                } catch {
                  if due >= measureFrom { shared.state.withLock { $0.failed += 1 } }
                }
              }
            }
          }
        }
        try await clock.sleep(until: measureFrom)
        before = (processCPUTime(), processTreeCPU(root: postmaster), try await walCounters(a))
        if statements { try await a.execute("SELECT pg_stat_statements_reset()") }
        try await group.waitForAll()
      }
      let after = (processCPUTime(), processTreeCPU(root: postmaster), try await walCounters(a))
      let state = shared.state.withLock { $0 }
      let ran = statements ? try await statementTable(a) : ""
      return RefreshLoadResult(
        endpoints: endpoints,
        period: period,
        measured: measured,
        due: Int(measured / interval) * 2,
        done: state.done,
        failed: state.failed,
        lateness: state.lateness.sorted(),
        elapsed: (state.lastEnd ?? end) - measureFrom,
        benchCPU: after.0 - before.cpu,
        databaseCPU: after.1.flatMap { a in before.database.map { a - $0 } },
        walSyncs: after.2.0 - before.wal.0,
        walRecords: after.2.1 - before.wal.1,
        statements: ran
      )
    }
  }
}

/// Registered rows for `load-nse-0` ... in bulk, as `register` would store them.
private func preload(_ count: Int, into database: NSMPostgres.PostgresDatabase) async throws {
  for batch in stride(from: 0, to: count, by: 5_000) {
    var names: [String] = []
    var records: [String] = []
    for i in batch..<min(count, batch + 5_000) {
      let name = "load-nse-\(i)"
      names.append(name)
      let bytes: [UInt8] = try Fixtures.endpoint(name, expiresIn: 3600).serializedBytes()
      records.append(bytes.map { String(format: "%02x", $0) }.joined())
    }
    var binds = PostgresBindings()
    binds.append(names)
    binds.append(records)
    try await database.client.query(
      PostgresQuery(
        unsafeSQL: """
          INSERT INTO nsm_endpoints
            (name, service_names, service_labels, url, expires_at, record, registrant, version)
          SELECT n, ARRAY['ns-1'], '{}'::jsonb, 'tcp://10.0.0.1:5001', now() + interval '1 hour',
                 decode(r, 'hex'), '', nextval('nsm_changes_seq_seq')
          FROM unnest($1::text[], $2::text[]) AS t(n, r)
          """,
        binds: binds
      )
    )
  }
  try await database.execute("ANALYZE nsm_endpoints")
}

/// The statements that took the most server time, calls and times per call.
private func statementTable(_ database: NSMPostgres.PostgresDatabase) async throws -> String {
  let rows = try await database.texts(
    """
    SELECT calls::text || '|' || round(total_exec_time)::text || '|' || round(total_plan_time)::text || '|'
           || round(1000 * (total_exec_time + total_plan_time) / greatest(calls, 1))::text || '|'
           || replace(left(regexp_replace(query, '\\s+', ' ', 'g'), 110), '|', '/')
    FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 12
    """
  )
  var lines = [
    "| Calls | Execute ms | Plan ms | µs per call | Statement |",
    "| ---: | ---: | ---: | ---: | --- |",
  ]
  for row in rows {
    let parts = row.split(separator: "|", maxSplits: 4, omittingEmptySubsequences: false)
    lines.append(
      "| " + parts.map { String($0).replacingOccurrences(of: "`", with: "'") }.joined(separator: " | ") + " |"
    )
  }
  return lines.joined(separator: "\n")
}

private func walCounters(_ database: NSMPostgres.PostgresDatabase) async throws -> (Int64, Int64) {
  let text = try await database.texts("SELECT wal_sync::text || ' ' || wal_records::text FROM pg_stat_wal").first ?? ""
  let parts = text.split(separator: " ").compactMap { Int64($0) }
  return parts.count == 2 ? (parts[0], parts[1]) : (0, 0)
}

/// The refresh-load table (Markdown).
func refreshLoadReport(_ results: [RefreshLoadResult], server: String, concurrency: Int, pool: Int) -> String {
  var lines = [
    "Lease refresh load on \(server): two replicas (PostgresDatabase each, pool \(pool), "
      + "\(concurrency) refreshes in flight per replica), open loop, one period unmeasured first.",
    "",
    "| Endpoints | Target/s | Done/s | Held | Failed | Lateness p50 ms | p99 ms | max ms | CPU µs/refresh: benchmark | PostgreSQL | WAL flushes/refresh |",
    "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ]
  for result in results {
    let done = Double(max(result.done, 1))
    let late = { (fraction: Double) in format(percentile(result.lateness, fraction), digits: 1) }
    // Held: nothing failed and 99 % of the refreshes were less than a second late (a backlog
    // that grows shows as lateness that grows with the window).
    let held = result.failed == 0 && percentile(result.lateness, 0.99) < 1000
    lines.append(
      "| \(result.endpoints) | \(format(result.targetRate, digits: 0)) | \(format(result.achievedRate, digits: 0)) "
        + "| \(held ? "yes" : "no") | \(result.failed) | \(late(0.5)) | \(late(0.99)) | \(late(1.0)) "
        + "| \(format(result.benchCPU.seconds * 1e6 / done, digits: 0)) "
        + "| \(result.databaseCPU.map { format($0.seconds * 1e6 / done, digits: 0) } ?? "-") "
        + "| \(format(Double(result.walSyncs) / done, digits: 2)) |"
    )
  }
  return lines.joined(separator: "\n")
}
