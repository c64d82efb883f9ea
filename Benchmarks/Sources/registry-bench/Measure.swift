import Foundation

/// How long each client keeps calling in the measured part of a scenario.
enum Plan: Sendable {
  /// Until a shared deadline, `Duration` after the warm-up ends.
  case duration(Duration)
  /// A fixed number of calls per client.
  case calls(Int)
}

/// What one scenario measured.
struct ScenarioResult: Sendable {
  var name: String
  var storeSize: Int?
  var clients: Int
  /// Latencies of the measured calls, nanoseconds, sorted ascending.
  var latencies: [Int64]
  /// From the end of the warm-up to the last measured call's completion.
  var elapsed: Duration

  var calls: Int { latencies.count }

  var opsPerSecond: Double {
    let seconds = elapsed.seconds
    return seconds > 0 ? Double(calls) / seconds : 0
  }

  /// Nearest-rank percentile of the sorted samples, in milliseconds: the smallest sample with
  /// at least `fraction` of all samples at or below it.
  func percentileMilliseconds(_ fraction: Double) -> Double {
    guard !latencies.isEmpty else { return .nan }
    let rank = Int((fraction * Double(latencies.count)).rounded(.up))
    let index = min(max(rank - 1, 0), latencies.count - 1)
    return Double(latencies[index]) / 1_000_000
  }
}

extension Duration {
  var seconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) + Double(attoseconds) / 1e18
  }

  var nanoseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}

/// Runs a closed-loop scenario: every client has one call in flight at a time and starts the
/// next as soon as the previous one returns. All clients warm up until one shared instant
/// (calls not recorded), then record each call's latency with `ContinuousClock`.
///
/// `call` gets the client, the client's index and a sequence number unique per client across
/// warm-up and measurement (for distinct names).
func runClosedLoop<Client: Sendable>(
  name: String,
  storeSize: Int?,
  clients: [Client],
  warmup: Duration,
  plan: Plan,
  call: @escaping @Sendable (Client, _ index: Int, _ sequence: Int) async throws -> Void
) async throws -> ScenarioResult {
  let clock = ContinuousClock()
  let measureStart = clock.now.advanced(by: warmup)
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
  let lastEnd = perClient.map(\.lastEnd).max() ?? measureStart
  return ScenarioResult(
    name: name,
    storeSize: storeSize,
    clients: clients.count,
    latencies: perClient.flatMap(\.latencies).sorted(),
    elapsed: lastEnd - measureStart
  )
}
