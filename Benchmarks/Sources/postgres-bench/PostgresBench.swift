import ArgumentParser
import BenchSupport
import Foundation
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import SwiftProtobuf

/// The registry on its PostgreSQL store over loopback gRPC, next to pgbench running the same
/// SQL against the same server, and the watch fan-out across two replicas (docs/benchmarks.md).
@main
struct PostgresBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "postgres-bench",
    abstract: "Measure the registry on PostgreSQL against pgbench on the same server, and watch fan-out.",
    discussion: """
      Starts a throwaway PostgreSQL server (TestPostgres from NSMTesting, fsync=off) and, unless \
      --no-fsync-on, a second pass on a server of its own with fsync=on. Per pass: Register and \
      Find-by-name over gRPC against a RegistryServer on a PostgresDatabase, pgbench with an \
      equivalent upsert, select and the registry's own write statements, and watch fan-out \
      to watchers on two replicas. Prints Markdown on standard output; progress goes to \
      standard error. Every server it starts is stopped at the end.
      """
  )

  @Option(help: "Concurrent clients: gRPC clients (each its own connection) and pgbench -c.")
  var clients = 8

  @Option(help: "Measured seconds per scenario; whole seconds for pgbench (default 5; 1 with --quick).")
  var duration: Double?

  @Option(help: "Warm-up seconds per scenario, not measured (default 1; 0.2 with --quick; pgbench: rounded up).")
  var warmup: Double?

  @Option(help: "Connections in each replica's PostgreSQL pool.")
  var pool = 10

  @Option(help: "NSEs registered before Find-by-name (and rows in pgbench's table) (default 10000; 1000 with --quick).")
  var preload: Int?

  @Option(help: "Watchers in the fan-out scenario, half on each replica (default 1000; 100 with --quick).")
  var watchers: Int?

  @Option(help: "gRPC connections the watchers of one replica share.")
  var watchConnections = 10

  @Option(help: "NSEs registered, one at a time, in the fan-out scenario (default 200; 20 with --quick).")
  var events: Int?

  @Option(help: "Unmeasured fan-out events before the measured ones.")
  var warmupEvents = 5

  @Option(help: "pgbench -j (threads).")
  var pgbenchThreads = 2

  @Option(help: "The pgbench binary (default: the newest /usr/lib/postgresql/*/bin/pgbench).")
  var pgbench: String?

  @Flag(inversion: .prefixedNo, help: "Also run every scenario on a server with fsync=on (a second pass).")
  var fsyncOn = true

  @Flag(help: "A short smoke run: 1 s per scenario, small counts.")
  var quick = false

  var measuredSeconds: Double { duration ?? (quick ? 1 : 5) }
  var warmupSeconds: Double { warmup ?? (quick ? 0.2 : 1) }
  var preloadCount: Int { preload ?? (quick ? 1_000 : 10_000) }
  var watcherCount: Int { watchers ?? (quick ? 100 : 1_000) }
  var eventCount: Int { events ?? (quick ? 20 : 200) }

  func validate() throws {
    guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
    guard measuredSeconds > 0 else { throw ValidationError("--duration must be positive") }
    guard warmupSeconds >= 0 else { throw ValidationError("--warmup must not be negative") }
    guard pool >= 2 else { throw ValidationError("--pool must be at least 2 (the change feed holds one connection)") }
    guard preloadCount >= 1 else { throw ValidationError("--preload must be at least 1") }
    guard watcherCount >= 2, watcherCount % 2 == 0 else {
      throw ValidationError("--watchers must be even and positive")
    }
    guard watchConnections >= 1 else { throw ValidationError("--watch-connections must be at least 1") }
    guard eventCount >= 1 else { throw ValidationError("--events must be at least 1") }
    guard warmupEvents >= 0 else { throw ValidationError("--warmup-events must not be negative") }
  }

  @Option(help: "Give up (stopping every server started) after this many seconds.")
  var timeLimit = 600

  @Option(
    help: """
      Instead of the scenarios: a sustained lease-refresh load, for each of these endpoint counts       (comma-separated), on two replicas, on a server with fsync=on (fsync=off with --no-fsync-on).
      """
  )
  var refreshLoad: String?

  @Option(help: "Seconds between two refreshes of one endpoint in the refresh load.")
  var refreshPeriod = 20

  @Option(help: "Measured seconds of each refresh load (after one unmeasured period).")
  var refreshMeasured = 20

  @Option(help: "Refreshes in flight per replica in the refresh load.")
  var refreshConcurrency = 16

  @Flag(help: "With --refresh-load: load pg_stat_statements and print what the server ran in each measured window.")
  var statements = false

  func run() async throws {
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    // Ctrl-C, SIGTERM and the time limit end the process through exit(), whose handlers stop
    // the PostgreSQL servers (TestPostgres's atexit cleanup).
    let stoppers = [SIGINT, SIGTERM].map { (number: Int32) -> any DispatchSourceSignal in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler {
        progress("signal \(number): stopping the servers and exiting")
        Foundation.exit(130)
      }
      source.resume()
      return source
    }
    let watchdog = Task.detached { [timeLimit] in
      try await Task.sleep(for: .seconds(timeLimit))
      progress("time limit of \(timeLimit) s reached: stopping the servers and exiting")
      Foundation.exit(3)
    }
    defer {
      watchdog.cancel()
      for stopper in stoppers { stopper.cancel() }
    }
    let settings = Settings(
      clients: clients,
      plan: .duration(.seconds(measuredSeconds)),
      warmup: .seconds(warmupSeconds),
      pgbenchSeconds: max(1, Int(measuredSeconds.rounded(.up))),
      pgbenchWarmup: Int(warmupSeconds.rounded(.up)),
      pgbenchThreads: pgbenchThreads,
      pgbench: try pgbench ?? "\(postgresBinaries())/pgbench",
      pool: pool,
      preload: preloadCount,
      watchersPerReplica: watcherCount / 2,
      watchConnections: watchConnections,
      events: eventCount,
      warmupEvents: warmupEvents
    )
    if let refreshLoad {
      let counts = refreshLoad.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard !counts.isEmpty, counts.allSatisfy({ $0 >= 2 }) else {
        throw ValidationError("--refresh-load takes endpoint counts, e.g. 10000,50000")
      }
      let settings =
        statements ? ["shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track_planning=on"] : []
      let server =
        fsyncOn
        ? try await BenchServer.durable(settings: settings) : try await BenchServer.testPostgres(settings: settings)
      var results: [RefreshLoadResult] = []
      do {
        for count in counts {
          let result = try await runRefreshLoad(
            on: server,
            endpoints: count,
            period: .seconds(refreshPeriod),
            measured: .seconds(refreshMeasured),
            concurrency: refreshConcurrency,
            pool: pool,
            statements: statements
          )
          progress(
            "refresh load \(count): \(format(result.achievedRate, digits: 0))/s of \(format(result.targetRate, digits: 0))/s"
          )
          results.append(result)
        }
      } catch {
        await server.stop()
        throw error
      }
      await server.stop()
      print(refreshLoadReport(results, server: server.label, concurrency: refreshConcurrency, pool: pool))
      for result in results where !result.statements.isEmpty {
        print("\nStatements the server ran while \(result.endpoints) endpoints refreshed (pg_stat_statements):\n")
        print(result.statements)
      }
      return
    }
    let startedAt = Date()
    let loadBefore = loadAverage()
    let fdatasync = fdatasyncProbe()
    let clock = ContinuousClock()
    let begin = clock.now

    var passes: [PassResult] = []
    progress("pass 1: starting TestPostgres (fsync=off) ...")
    passes.append(try await runPass(on: try await BenchServer.testPostgres(), settings: settings))
    if fsyncOn {
      progress("pass 2: starting a server with fsync=on ...")
      passes.append(try await runPass(on: try await BenchServer.durable(), settings: settings))
    }

    print(
      report(
        passes: passes,
        settings: settings,
        startedAt: startedAt,
        wallTime: clock.now - begin,
        fdatasync: fdatasync,
        loadBefore: loadBefore,
        loadAfter: loadAverage()
      )
    )
  }
}

struct Settings: Sendable {
  var clients: Int
  var plan: Plan
  var warmup: Duration
  var pgbenchSeconds: Int
  var pgbenchWarmup: Int
  var pgbenchThreads: Int
  var pgbench: String
  var pool: Int
  var preload: Int
  var watchersPerReplica: Int
  var watchConnections: Int
  var events: Int
  var warmupEvents: Int
}

struct PassResult: Sendable {
  var server: String
  /// `SHOW` of the settings that decide what a commit costs, as the server reported them.
  var serverSettings: [(String, String)]
  var rows: [ScenarioResult]
  var preloadRate: Double
  var recordBytes: Int
  var fanOut: FanOutResult
}

func progress(_ message: String) {
  writeProgress("postgres-bench", message)
}

func endpointName(_ index: Int) -> String { "bench-nse-\(index)" }

/// One pass on one server: a database for Register / Find / pgbench, another for fan-out.
/// The server is stopped however the pass ends.
func runPass(on server: BenchServer, settings: Settings) async throws -> PassResult {
  do {
    let result = try await measure(on: server, settings: settings)
    progress("stopping the PostgreSQL server ...")
    await server.stop()
    return result
  } catch {
    progress("failed: \(error); stopping the PostgreSQL server ...")
    await server.stop()
    throw error
  }
}

private func measure(on server: BenchServer, settings: Settings) async throws -> PassResult {
  let url = try await server.makeDatabase()
  let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
    "nsm-pgbench-\(UUID().uuidString.prefix(8))"
  )
  .path
  try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  defer { try? FileManager.default.removeItem(atPath: folder) }
  let pgbench = try PgBench(binary: settings.pgbench, url: url, folder: folder)
  let preload = settings.preload

  let (serverSettings, rows, preloadRate, recordBytes) = try await withDatabase(url, poolSize: settings.pool) {
    database in
    var serverSettings: [(String, String)] = []
    for name in [
      "server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers",
    ] {
      serverSettings.append((name, try await database.texts("SHOW \(name)").first ?? "?"))
    }
    progress("server: " + serverSettings.map { "\($0.0)=\($0.1)" }.joined(separator: ", "))
    // The postmaster: the parent of this connection's backend.
    guard let backend = pid_t(try await database.texts("SELECT pg_backend_pid()::text").first ?? ""),
      let postmaster = procStat(backend)?.parent, processTreeCPU(root: postmaster) != nil
    else { throw BenchError("cannot find the PostgreSQL server's processes in /proc") }
    let databaseCPU: @Sendable () -> Duration? = { processTreeCPU(root: postmaster) }
    return try await withRegistry(on: database) { address in
      try await withClients(settings.clients, address: address) { clients in
        // Preload over gRPC, as deployed NSEs arrive.
        progress("registering \(preload) NSEs with \(clients.count) clients (not measured) ...")
        let clock = ContinuousClock()
        let loadStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
          for (index, client) in clients.enumerated() {
            group.addTask {
              for i in stride(from: index, to: preload, by: clients.count) {
                _ = try await client.register(Fixtures.endpoint(endpointName(i)))
              }
            }
          }
          try await group.waitForAll()
        }
        let preloadRate = Double(preload) / (clock.now - loadStart).seconds
        guard try await database.count("nsm_endpoints") == preload else {
          throw BenchError("nsm_endpoints does not hold \(preload) rows after the preload")
        }
        progress("preloaded at \(format(preloadRate, digits: 0)) registrations/s")

        // pgbench's table: same shape, same number of rows, each holding a real record's bytes.
        let sample = try await clients[0].find(Fixtures.endpoint(endpointName(0)))
        guard let record = sample.first else { throw BenchError("the preloaded \(endpointName(0)) is not found") }
        let bytes: [UInt8] = try record.serializedBytes()
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        for statement in PgBench.schema() { try await database.execute(statement) }
        try await database.execute(PgBench.load(rows: preload, recordHex: hex))
        try await database.execute("ANALYZE")

        var rows: [ScenarioResult] = []
        func pgbenchRow(_ name: String, _ script: String, _ scriptName: String, size: Int?) async throws {
          progress("\(name) ...")
          rows.append(
            try await pgbench.run(
              name: name,
              storeSize: size,
              script: script,
              scriptName: scriptName,
              clients: settings.clients,
              threads: settings.pgbenchThreads,
              seconds: settings.pgbenchSeconds,
              warmup: settings.pgbenchWarmup,
              databaseCPU: databaseCPU
            )
          )
        }

        progress("registry Find-by-name ...")
        rows.append(
          try await runClosedLoop(
            name: "Registry Find-by-name (gRPC)",
            storeSize: try await database.count("nsm_endpoints"),
            clients: clients,
            warmup: settings.warmup,
            plan: settings.plan,
            databaseCPU: databaseCPU
          ) { client, _, _ in
            let name = endpointName(Int.random(in: 0..<preload))
            let found = try await client.find(Fixtures.endpoint(name))
            guard found.count == 1, found[0].name == name else {
              throw BenchError("Find of \(name) returned \(found.count) endpoints")
            }
          }
        )
        // The same through the store alone: no gRPC, no registry chain; PostgresNIO and SQL.
        progress("store find ...")
        rows.append(
          try await runClosedLoop(
            name: "Store find by name (PostgresRecordStore, no gRPC)",
            storeSize: try await database.count("nsm_endpoints"),
            clients: Array(repeating: database.endpoints, count: settings.clients),
            warmup: settings.warmup,
            plan: settings.plan,
            databaseCPU: databaseCPU
          ) { store, _, _ in
            let name = endpointName(Int.random(in: 0..<preload))
            let found = try await store.find(Fixtures.endpoint(name))
            guard found.count == 1, found[0].name == name else {
              throw BenchError("store find of \(name) returned \(found.count) endpoints")
            }
          }
        )
        try await pgbenchRow(
          "pgbench select by primary key",
          PgBench.selectScript(rows: preload),
          "select",
          size: try await database.count("pgbench_nse")
        )

        progress("registry Register ...")
        rows.append(
          try await runClosedLoop(
            name: "Registry Register, new NSE (gRPC)",
            storeSize: try await database.count("nsm_endpoints"),
            clients: clients,
            warmup: settings.warmup,
            plan: settings.plan,
            databaseCPU: databaseCPU
          ) { client, index, sequence in
            _ = try await client.register(Fixtures.endpoint("bench-reg-\(index)-\(sequence)"))
          }
        )
        progress("store register ...")
        rows.append(
          try await runClosedLoop(
            name: "Store register (PostgresRecordStore, no gRPC)",
            storeSize: try await database.count("nsm_endpoints"),
            clients: Array(repeating: database.endpoints, count: settings.clients),
            warmup: settings.warmup,
            plan: settings.plan,
            databaseCPU: databaseCPU
          ) { store, index, sequence in
            _ = try await store.register(Fixtures.endpoint("bench-store-\(index)-\(sequence)", expiresIn: 3600))
          }
        )
        // A lease refresh: the Register of a name that is there, as every endpoint sends about
        // every 20 s.
        progress("store refresh ...")
        rows.append(
          try await runClosedLoop(
            name: "Store refresh (PostgresRecordStore, no gRPC)",
            storeSize: try await database.count("nsm_endpoints"),
            clients: Array(repeating: database.endpoints, count: settings.clients),
            warmup: settings.warmup,
            plan: settings.plan,
            databaseCPU: databaseCPU
          ) { store, _, _ in
            _ = try await store.register(Fixtures.endpoint(endpointName(Int.random(in: 0..<preload))))
          }
        )
        try await pgbenchRow(
          "pgbench single-row upsert",
          PgBench.upsertScript(recordHex: hex),
          "upsert",
          size: try await database.count("pgbench_nse")
        )
        try await pgbenchRow(
          "pgbench registry's write, new names",
          PgBench.registryInsertScript(recordHex: hex),
          "registry-write",
          size: try await database.count("pgbench_nse")
        )
        try await pgbenchRow(
          "pgbench registry's write, refresh",
          PgBench.registryRefreshScript(rows: preload, recordHex: hex),
          "registry-refresh",
          size: try await database.count("pgbench_nse")
        )
        return (serverSettings, rows, preloadRate, bytes.count)
      }
    }
  }

  let fanOutURL = try await server.makeDatabase()
  progress(
    "fan-out: \(settings.watchersPerReplica * 2) watchers on 2 replicas, \(settings.events) events, new database ..."
  )
  let fanOut = try await runFanOut(
    url: fanOutURL,
    poolSize: settings.pool,
    watchersPerReplica: settings.watchersPerReplica,
    connections: settings.watchConnections,
    events: settings.events,
    warmupEvents: settings.warmupEvents
  )
  progress("fan-out: \(fanOut.delivered) of \(fanOut.expected) deliveries")
  return PassResult(
    server: server.label,
    serverSettings: serverSettings,
    rows: rows,
    preloadRate: preloadRate,
    recordBytes: recordBytes,
    fanOut: fanOut
  )
}
