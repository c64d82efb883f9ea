import ArgumentParser
import BenchSupport
import Foundation
import GRPCCore
import NSMAPI
import NSMConnect
import NSMCore
import NSMTesting

/// The Network Service API's cost per Request + Close, local and across two nodes, next to a
/// bare unary echo on the same stack; and what 1,000 connections held by one manager cost
/// (docs/benchmarks.md).
@main
struct ConnectBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "connect-bench",
    abstract: "Measure Request + Close through one and two managers against a bare unary echo.",
    discussion: """
      Runs, in one process: a registry, two managers (nodes), an endpoint on each, a bare echo \
      server, and N clients, each with its own connection to manager 1's unix socket, calling in \
      a closed loop. Prints Markdown on standard output; progress goes to standard error.
      """
  )

  @Option(help: "Concurrent clients, each with its own GRPCClient and HTTP/2 connection.")
  var clients = 8

  @Option(help: "Measured seconds per scenario (default 5; 0.5 with --quick).")
  var duration: Double?

  @Option(help: "Warm-up seconds per scenario, not measured (default 1; 0.2 with --quick).")
  var warmup: Double?

  @Option(help: "Connections held at once for the memory and refresh measurement.")
  var held = 1_000

  @Option(
    help:
      "Heal rounds with real nsm processes (NSM_EXECUTABLE: the binary; default the main package's debug build); 0 skips."
  )
  var healRounds = 10

  @Flag(help: "A short smoke run: 0.5 s per scenario, 0.2 s warm-up.")
  var quick = false

  func run() async throws {
    let plan = Plan.duration(.seconds(duration ?? (quick ? 0.5 : 5)))
    let warmup = Duration.seconds(self.warmup ?? (quick ? 0.2 : 1))
    let clientCount = clients
    let held = self.held
    let startedAt = Date()
    let loadBefore = loadAverage()
    let (results, holding) = try await Topology.run { topology in
      try await withGRPCClients(clientCount, address: topology.echo) { echoClients in
        try await withGRPCClients(clientCount, address: topology.manager1) { grpcs in
          let workloads = grpcs.enumerated().map { ManagerClient(grpc: $1, name: "nsc-\($0)") }
          var results: [ScenarioResult] = []
          let sample = try await workloads[0].request(Topology.localService, id: "sample")
          try await workloads[0].close(sample)
          let echo: @Sendable (GRPCClient<PeerTransport>, Int, Int) async throws -> Void = { client, _, _ in
            _ = try await client.echo(sample)
          }
          progress("echo")
          results.append(
            try await runClosedLoop(
              name: "Echo (bare unary), first",
              storeSize: nil,
              clients: echoClients,
              warmup: warmup,
              plan: plan,
              call: echo
            )
          )
          for (name, service) in [
            ("local: client → manager → endpoint", Topology.localService),
            ("remote: client → manager → manager → endpoint", Topology.remoteService),
          ] {
            progress("request + close, \(name)")
            results.append(
              try await runClosedLoop(
                name: "Request + Close, \(name)",
                storeSize: nil,
                clients: workloads,
                warmup: warmup,
                plan: plan
              ) { client, index, sequence in
                let connection = try await client.request(service, id: "c-\(index)-\(sequence)-\(service)")
                try await client.close(connection)
              }
            )
          }
          progress("echo again")
          results.append(
            try await runClosedLoop(
              name: "Echo (bare unary), last",
              storeSize: nil,
              clients: echoClients,
              warmup: warmup,
              plan: plan,
              call: echo
            )
          )
          progress("holding \(held) connections")
          let holding = try await Self.hold(held, workloads: workloads)
          return (results, holding)
        }
      }
    }
    var heal: [Double] = []
    if healRounds > 0 {
      progress("heal time, \(healRounds) rounds, \(NSMProcess.executable.path)")
      heal = try await HealTime.measure(rounds: healRounds)
    }
    print(
      report(
        heal: heal,
        results: results,
        holding: holding,
        startedAt: startedAt,
        plan: plan,
        warmup: warmup,
        clients: clientCount,
        loadBefore: loadBefore,
        loadAfter: loadAverage()
      )
    )
  }

  /// Opens `count` local connections, refreshes them all once, closes them: memory and CPU.
  static func hold(_ count: Int, workloads: [ManagerClient]) async throws -> Holding {
    let before = residentBytes()
    let opened = try await spread(count, over: workloads) { client, index in
      try await client.request(Topology.localService, id: "held-\(index)")
    }
    let after = residentBytes()
    let cpuBefore = processCPUTime()
    let clock = ContinuousClock()
    let start = clock.now
    let refreshed = try await spread(count, over: workloads) { client, index in
      try await client.refresh(opened[index])
    }
    let refreshTime = clock.now - start
    let refreshCPU = processCPUTime() - cpuBefore
    _ = try await spread(count, over: workloads) { client, index in
      try await client.close(refreshed[index])
      return refreshed[index]
    }
    return Holding(
      count: count,
      bytesPerConnection: Double(after - before) / Double(count),
      refreshWall: refreshTime,
      refreshCPU: refreshCPU
    )
  }

  /// Runs `operation` for indices 0..<count, each workload taking every n-th.
  static func spread(
    _ count: Int,
    over workloads: [ManagerClient],
    _ operation: @escaping @Sendable (ManagerClient, Int) async throws -> Connection_Connection
  ) async throws -> [Connection_Connection] {
    try await withThrowingTaskGroup(of: [(Int, Connection_Connection)].self) { group in
      for (offset, client) in workloads.enumerated() {
        group.addTask {
          var done: [(Int, Connection_Connection)] = []
          for index in stride(from: offset, to: count, by: workloads.count) {
            done.append((index, try await operation(client, index)))
          }
          return done
        }
      }
      var all = [Connection_Connection?](repeating: nil, count: count)
      for try await part in group { for (index, connection) in part { all[index] = connection } }
      return all.map { $0! }
    }
  }
}

struct Holding: Sendable {
  var count: Int
  var bytesPerConnection: Double
  var refreshWall: Duration
  var refreshCPU: Duration
}

func progress(_ message: String) {
  writeProgress("connect-bench", message)
}
