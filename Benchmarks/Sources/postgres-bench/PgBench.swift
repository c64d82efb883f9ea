import BenchSupport
import Foundation

/// pgbench against the registry's database, with custom scripts shaped like the registry's SQL.
struct PgBench: Sendable {
  let binary: String
  let host: String
  let port: Int
  let user: String
  let database: String
  /// Scripts and per-transaction logs go here; removed by the caller.
  let folder: String

  init(binary: String, url: String, folder: String) throws {
    guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
      throw BenchError("cannot read host and port from \(url)")
    }
    self.binary = binary
    self.host = host
    self.port = port
    user = components.user ?? "postgres"
    database = String(components.path.drop { $0 == "/" })
    self.folder = folder
  }

  /// The table pgbench writes and reads: the columns, key and indexes of `nsm_endpoints`
  /// (Sources/NSMPostgres/Migrations.swift), and a change log shaped like `nsm_changes`.
  static func schema() -> [String] {
    [
      """
      CREATE TABLE pgbench_nse (
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
      "CREATE INDEX pgbench_nse_service_names ON pgbench_nse USING gin (service_names)",
      "CREATE INDEX pgbench_nse_service_labels ON pgbench_nse USING gin (service_labels jsonb_path_ops)",
      "CREATE INDEX pgbench_nse_expires_at ON pgbench_nse (expires_at) WHERE expires_at IS NOT NULL",
      """
      CREATE TABLE pgbench_changes (
        seq bigserial PRIMARY KEY,
        kind text NOT NULL,
        name text NOT NULL,
        deleted boolean NOT NULL,
        record bytea NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        tx bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
      )
      """,
      "CREATE INDEX pgbench_changes_at ON pgbench_changes (at)",
      "CREATE INDEX pgbench_changes_tx_seq ON pgbench_changes (tx, seq)",
    ]
  }

  /// `rows` rows named `pgb-nse-<i>`, each with `record` (a real registered endpoint's bytes).
  static func load(rows: Int, recordHex: String) -> String {
    """
    INSERT INTO pgbench_nse (name, service_names, service_labels, url, expires_at, record, registrant, version, updated_at)
    SELECT 'pgb-nse-' || i, ARRAY['ns-1'], '{}'::jsonb, 'tcp://10.0.0.1:5001', now() + interval '1 hour',
           '\\x\(recordHex)'::bytea, '', i, now()
    FROM generate_series(0, \(rows - 1)) AS i
    """
  }

  /// The registry's Find-by-name statement (`SELECT record FROM nsm_endpoints WHERE name = $1
  /// ORDER BY name`) on a random preloaded row.
  static func selectScript(rows: Int) -> String {
    """
    \\set i random(0, \(rows - 1))
    SELECT record FROM pgbench_nse WHERE name = 'pgb-nse-' || :i ORDER BY name;

    """
  }

  static func upsertStatement(prefix: String, recordHex: String) -> String {
    """
    INSERT INTO pgbench_nse (name, service_names, service_labels, url, expires_at, record, registrant, version, updated_at)
      VALUES ('\(prefix)' || :i, ARRAY['ns-1'], '{}'::jsonb, 'tcp://10.0.0.1:5001', now() + interval '1 hour',
              '\\x\(recordHex)'::bytea, '', :i, now())
      ON CONFLICT (name) DO UPDATE SET
        service_names = EXCLUDED.service_names, service_labels = EXCLUDED.service_labels,
        url = EXCLUDED.url, expires_at = EXCLUDED.expires_at, record = EXCLUDED.record,
        version = EXCLUDED.version, updated_at = now();
    """
  }

  /// One autocommitted `INSERT ... ON CONFLICT (name) DO UPDATE` of a new random name: the
  /// registry's last statement of a Register, alone.
  static func upsertScript(recordHex: String) -> String {
    """
    \\set i random(1, 2000000000)
    \(upsertStatement(prefix: "pgb-new-", recordHex: recordHex))

    """
  }

  /// The registry's Register of a new name (PostgresRecordStore.register), statement for
  /// statement, each autocommitted: read the row (none); one statement that inserts it unless it
  /// exists and appends to the change log (data-modifying CTEs); `SELECT 1`, the registry's
  /// wait for the commit. Its own table and sequence.
  static func registryInsertScript(recordHex: String) -> String {
    """
    \\set i random(1, 2000000000)
    SELECT record, registrant, version FROM pgbench_nse WHERE name = 'pgb-tx-' || :i;
    WITH stored AS (INSERT INTO pgbench_nse (name, service_names, service_labels, url, expires_at, record, registrant, version, updated_at) VALUES ('pgb-tx-' || :i, ARRAY['ns-1'], '{}'::jsonb, 'tcp://10.0.0.1:5001', now() + interval '1 hour', '\\x\(recordHex)'::bytea, '', nextval('pgbench_changes_seq_seq'), now()) ON CONFLICT (name) DO NOTHING RETURNING version), change AS (INSERT INTO pgbench_changes (seq, kind, name, deleted, record) SELECT version, 'nse', 'pgb-tx-' || :i, false, '\\x\(recordHex)'::bytea FROM stored RETURNING seq) SELECT seq FROM change;
    SELECT 1;

    """
  }

  /// The registry's lease refresh of a row it wrote before (it remembers the row's version, so
  /// it reads nothing first): one statement that replaces the row if its version is the one
  /// remembered and appends to the change log; `SELECT 1`. pgbench keeps nothing between
  /// transactions, so the version condition here compares the column with itself.
  static func registryRefreshScript(rows: Int, recordHex: String) -> String {
    """
    \\set i random(0, \(rows - 1))
    WITH stored AS (UPDATE pgbench_nse SET service_names = ARRAY['ns-1'], service_labels = '{}'::jsonb, url = 'tcp://10.0.0.1:5001', expires_at = now() + interval '1 hour', record = '\\x\(recordHex)'::bytea, version = nextval('pgbench_changes_seq_seq'), updated_at = now() WHERE name = 'pgb-nse-' || :i AND version = version RETURNING version), change AS (INSERT INTO pgbench_changes (seq, kind, name, deleted, record) SELECT version, 'nse', 'pgb-nse-' || :i, false, '\\x\(recordHex)'::bytea FROM stored RETURNING seq) SELECT seq FROM change;
    SELECT 1;

    """
  }

  private func arguments(clients: Int, threads: Int, seconds: Int, script: String) -> [String] {
    [
      "-h", host, "-p", "\(port)", "-U", user, "-n", "-M", "prepared",
      "-c", "\(clients)", "-j", "\(min(threads, clients))", "-T", "\(seconds)", "-f", script,
    ]
  }

  /// One pgbench run of `seconds`; it is killed if it takes 30 s longer.
  private func pgbench(_ arguments: [String], seconds: Int) async throws -> (
    status: Int32, output: String, cpu: Duration
  ) {
    let outputPath = "\(folder)/pgbench-output-\(UUID().uuidString.prefix(8))"
    let (status, cpu) = try await spawnAndWait(
      binary,
      arguments,
      environment: ["PGSSLMODE": "disable", "PGCONNECT_TIMEOUT": "5"],
      outputPath: outputPath,
      limit: .seconds(seconds + 30)
    )
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    return (status, output, cpu)
  }

  /// Runs `script` for `warmup` seconds unrecorded, then for `seconds` with a per-transaction
  /// log, from which the latency percentiles are taken; throughput is pgbench's own tps.
  func run(
    name: String,
    storeSize: Int?,
    script: String,
    scriptName: String,
    clients: Int,
    threads: Int,
    seconds: Int,
    warmup: Int,
    databaseCPU: @Sendable () -> Duration?
  ) async throws -> ScenarioResult {
    let scriptPath = "\(folder)/\(scriptName).sql"
    try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    if warmup > 0 {
      let (status, output, _) = try await pgbench(
        arguments(clients: clients, threads: threads, seconds: warmup, script: scriptPath) + [database],
        seconds: warmup
      )
      guard status == 0 else { throw BenchError("pgbench warm-up of \(scriptName) failed (\(status)): \(output)") }
    }
    let logPrefix = "\(folder)/\(scriptName)-log"
    let databaseBefore = databaseCPU()
    let (status, output, cpu) = try await pgbench(
      arguments(clients: clients, threads: threads, seconds: seconds, script: scriptPath)
        + ["-l", "--log-prefix=\(logPrefix)", database],
      seconds: seconds
    )
    let databaseAfter = databaseCPU()
    guard status == 0 else { throw BenchError("pgbench \(scriptName) failed (\(status)): \(output)") }
    guard let tps = Self.number(after: "tps = ", in: output),
      let processed = Self.number(after: "number of transactions actually processed: ", in: output)
    else { throw BenchError("cannot read pgbench's output:\n\(output)") }
    if let failed = Self.number(after: "number of failed transactions: ", in: output), failed > 0 {
      throw BenchError("pgbench \(scriptName): \(Int(failed)) failed transactions:\n\(output)")
    }
    let latencies = try readLog(prefix: logPrefix)
    progress(
      "pgbench \(scriptName): \(Int(processed)) transactions, tps \(format(tps, digits: 0)), "
        + "\(latencies.count) logged; pgbench says: "
        + output.split(separator: "\n").filter { $0.hasPrefix("latency") || $0.hasPrefix("tps") }.joined(
          separator: "; "
        )
    )
    return ScenarioResult(
      name: name,
      storeSize: storeSize,
      clients: clients,
      latencies: latencies,
      elapsed: .seconds(processed / tps),
      cpu: nil,
      databaseCPU: databaseAfter.flatMap { after in databaseBefore.map { after - $0 } },
      toolCPU: cpu,
      reportedCalls: Int(processed),
      reportedOpsPerSecond: tps
    )
  }

  /// Latencies (third column, microseconds) of every transaction in pgbench's per-thread logs
  /// `<prefix>.<pid>` and `<prefix>.<pid>.<thread>`, as sorted nanoseconds.
  private func readLog(prefix: String) throws -> [Int64] {
    let base = (prefix as NSString).lastPathComponent + "."
    var latencies: [Int64] = []
    for file in try FileManager.default.contentsOfDirectory(atPath: folder) where file.hasPrefix(base) {
      let text = try String(contentsOfFile: "\(folder)/\(file)", encoding: .utf8)
      for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count >= 3, let micros = Int64(fields[2]) { latencies.append(micros * 1000) }
      }
    }
    return latencies.sorted()
  }

  private static func number(after marker: String, in output: String) -> Double? {
    guard let range = output.range(of: marker) else { return nil }
    let digits = output[range.upperBound...].prefix { $0.isNumber || $0 == "." }
    return Double(digits)
  }
}
