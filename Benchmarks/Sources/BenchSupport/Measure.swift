internal import Foundation

/// How long each client keeps calling in the measured part of a scenario.
package enum Plan: Sendable {
  /// Until a shared deadline, `Duration` after the warm-up ends.
  case duration(Duration)
  /// A fixed number of calls per client.
  case calls(Int)
}

/// What one scenario measured.
package struct ScenarioResult: Sendable {
  package var name: String
  package var storeSize: Int?
  package var clients: Int
  /// Latencies of the measured calls, nanoseconds, sorted ascending.
  package var latencies: [Int64]
  /// From the end of the warm-up to the last measured call's completion.
  package var elapsed: Duration
  /// CPU time (user + system) the whole process used while measuring: clients and servers.
  /// Nil when the work ran in another process (pgbench).
  package var cpu: Duration?
  /// CPU time of the database server's processes while measuring (PostgreSQL), where measured.
  package var databaseCPU: Duration?
  /// CPU time of an external client tool (pgbench) while measuring, where one ran.
  package var toolCPU: Duration?
  /// Calls counted by the tool itself when that differs from `latencies.count` (pgbench).
  package var reportedCalls: Int?
  /// Throughput as the tool itself reported it (pgbench's tps), instead of calls / elapsed.
  package var reportedOpsPerSecond: Double?

  package init(
    name: String,
    storeSize: Int?,
    clients: Int,
    latencies: [Int64],
    elapsed: Duration,
    cpu: Duration?,
    databaseCPU: Duration? = nil,
    toolCPU: Duration? = nil,
    reportedCalls: Int? = nil,
    reportedOpsPerSecond: Double? = nil
  ) {
    self.name = name
    self.storeSize = storeSize
    self.clients = clients
    self.latencies = latencies
    self.elapsed = elapsed
    self.cpu = cpu
    self.databaseCPU = databaseCPU
    self.toolCPU = toolCPU
    self.reportedCalls = reportedCalls
    self.reportedOpsPerSecond = reportedOpsPerSecond
  }

  package var calls: Int { reportedCalls ?? latencies.count }

  /// Several runs of one scenario as one: their samples merged, their times added.
  package static func pooled(_ name: String, _ runs: [ScenarioResult]) -> ScenarioResult? {
    guard let first = runs.first else { return nil }
    return ScenarioResult(
      name: name,
      storeSize: nil,
      clients: first.clients,
      latencies: runs.flatMap(\.latencies).sorted(),
      elapsed: runs.reduce(.zero) { $0 + $1.elapsed },
      cpu: runs.reduce(Duration.zero) { $0 + ($1.cpu ?? .zero) }
    )
  }

  package var opsPerSecond: Double {
    if let reportedOpsPerSecond { return reportedOpsPerSecond }
    let seconds = elapsed.seconds
    return seconds > 0 ? Double(calls) / seconds : 0
  }

  /// Process CPU time per call, microseconds: client and server work together, and what
  /// contention from other processes affects least.
  package var cpuMicrosecondsPerCall: Double {
    guard let cpu, calls > 0 else { return .nan }
    return cpu.seconds * 1e6 / Double(calls)
  }

  /// `time` per call, microseconds; NaN when not measured.
  package func microsecondsPerCall(_ time: Duration?) -> Double {
    guard let time, calls > 0 else { return .nan }
    return time.seconds * 1e6 / Double(calls)
  }

  /// Nearest-rank percentile of the sorted samples, in milliseconds: the smallest sample with
  /// at least `fraction` of all samples at or below it.
  package func percentileMilliseconds(_ fraction: Double) -> Double {
    percentile(latencies, fraction)
  }
}

/// Nearest-rank percentile of sorted nanosecond samples, in milliseconds.
package func percentile(_ sorted: [Int64], _ fraction: Double) -> Double {
  guard !sorted.isEmpty else { return .nan }
  let rank = Int((fraction * Double(sorted.count)).rounded(.up))
  let index = min(max(rank - 1, 0), sorted.count - 1)
  return Double(sorted[index]) / 1_000_000
}

extension Duration {
  package var seconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) + Double(attoseconds) / 1e18
  }

  package var nanoseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}

/// Runs a closed-loop scenario: every client has one call in flight at a time and starts the
/// next as soon as the previous one returns. All clients warm up until one shared instant
/// (calls not recorded), then record each call's latency with `ContinuousClock`.
///
/// `call` gets the client, the client's index and a sequence number unique per client across
/// warm-up and measurement (for distinct names). `databaseCPU`, when given, reads the database
/// server's CPU time so far; it is sampled when the process's is.
package func runClosedLoop<Client: Sendable>(
  name: String,
  storeSize: Int?,
  clients: [Client],
  warmup: Duration,
  plan: Plan,
  databaseCPU: (@Sendable () -> Duration?)? = nil,
  call: @escaping @Sendable (Client, _ index: Int, _ sequence: Int) async throws -> Void
) async throws -> ScenarioResult {
  let clock = ContinuousClock()
  let measureStart = clock.now.advanced(by: warmup)
  // Samples the process's (and the database's) CPU time when the warm-up ends.
  let cpuAtStart = Task {
    try? await clock.sleep(until: measureStart)
    return (processCPUTime(), databaseCPU?())
  }
  let perClient = try await withThrowingTaskGroup(
    of: (latencies: [Int64], lastEnd: ContinuousClock.Instant).self
  ) { group in
    for (index, client) in clients.enumerated() {
      group.addTask {
        var sequence = 0
        while clock.now < measureStart {
          try await call(client, index, sequence)
          sequence += 1
        }
        var latencies: [Int64] = []
        var lastEnd = clock.now
        switch plan {
        case .calls(let count):
          latencies.reserveCapacity(count)
          for _ in 0..<count {
            let start = clock.now
            try await call(client, index, sequence)
            lastEnd = clock.now
            latencies.append((lastEnd - start).nanoseconds)
            sequence += 1
          }
        case .duration(let duration):
          let deadline = measureStart.advanced(by: duration)
          latencies.reserveCapacity(65_536)
          while clock.now < deadline {
            let start = clock.now
            try await call(client, index, sequence)
            lastEnd = clock.now
            latencies.append((lastEnd - start).nanoseconds)
            sequence += 1
          }
        }
        return (latencies, lastEnd)
      }
    }
    var results: [(latencies: [Int64], lastEnd: ContinuousClock.Instant)] = []
    for try await result in group { results.append(result) }
    return results
  }
  let cpuAtEnd = processCPUTime()
  let databaseAtEnd = databaseCPU?()
  let (cpuStart, databaseAtStart) = await cpuAtStart.value
  let lastEnd = perClient.map(\.lastEnd).max() ?? measureStart
  return ScenarioResult(
    name: name,
    storeSize: storeSize,
    clients: clients.count,
    latencies: perClient.flatMap(\.latencies).sorted(),
    elapsed: lastEnd - measureStart,
    cpu: cpuAtEnd - cpuStart,
    databaseCPU: databaseAtEnd.flatMap { end in databaseAtStart.map { end - $0 } }
  )
}

/// CPU time of this process so far, all threads, user plus system.
package func processCPUTime() -> Duration {
  var time = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
  return .seconds(Int64(time.tv_sec)) + .nanoseconds(Int64(time.tv_nsec))
}
