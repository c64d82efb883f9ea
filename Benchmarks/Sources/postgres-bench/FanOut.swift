import BenchSupport
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Synchronization

/// What the watch fan-out scenario measured.
struct FanOutResult: Sendable {
  var watchers: [Int]  // per replica (A, B)
  var events: Int
  var warmupEvents: Int
  /// Delivery delays of measured events, nanoseconds, sorted, per replica.
  var latencies: [[Int64]]
  /// Per measured event that every watcher got: from before its Register to the last delivery.
  var completion: [Int64]
  var incompleteEvents: Int
  var registerLatencies: [Int64]
  var unexpectedEvents: Int
  var watcherErrors: [String]
  var openTime: Duration

  var delivered: Int { latencies.reduce(0) { $0 + $1.count } }
  var expected: Int { watchers.reduce(0, +) * events }
}

/// Shared by the watchers and the writer: when each event's Register started (ContinuousClock),
/// who has received what, and a way to wait until an event reached every watcher.
final class FanOutTracker: Sendable {
  private struct State {
    var starts: [String: (at: ContinuousClock.Instant, measured: Bool)] = [:]
    var counts: [String: Int] = [:]
    var lastArrival: [String: ContinuousClock.Instant] = [:]
    var latencies: [[Int64]]
    var unexpected = 0
    var waiters: [String: CheckedContinuation<Bool, Never>] = [:]
    var errors: [String] = []
  }

  let watchers: Int
  private let state: Mutex<State>

  init(watchers: Int, replicas: Int) {
    self.watchers = watchers
    state = Mutex(State(latencies: Array(repeating: [], count: replicas)))
  }

  func willRegister(_ name: String, at instant: ContinuousClock.Instant, measured: Bool) {
    state.withLock { $0.starts[name] = (instant, measured) }
  }

  /// A watcher on `replica` received `name` at `instant`.
  func received(_ name: String, deleted: Bool, replica: Int, at instant: ContinuousClock.Instant) {
    let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
      guard !deleted, let start = state.starts[name] else {
        state.unexpected += 1
        return nil
      }
      if start.measured { state.latencies[replica].append((instant - start.at).nanoseconds) }
      let count = state.counts[name, default: 0] + 1
      state.counts[name] = count
      state.lastArrival[name] = max(state.lastArrival[name] ?? instant, instant)
      return count == watchers ? state.waiters.removeValue(forKey: name) : nil
    }
    waiter?.resume(returning: true)
  }

  /// True once every watcher has `name`; false after `timeout`.
  func waitForAll(_ name: String, timeout: Duration) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
      group.addTask { await self.wait(name) }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return false
      }
      let first = await group.next() ?? false
      group.cancelAll()
      return first
    }
  }

  private func wait(_ name: String) async -> Bool {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let resumeNow: Bool? = state.withLock { state in
          if state.counts[name, default: 0] >= watchers { return true }
          if Task.isCancelled { return false }
          state.waiters[name] = continuation
          return nil
        }
        if let resumeNow { continuation.resume(returning: resumeNow) }
      }
    } onCancel: {
      state.withLock { $0.waiters.removeValue(forKey: name) }?.resume(returning: false)
    }
  }

  func completion(of name: String) -> Duration? {
    state.withLock { state in
      guard let start = state.starts[name], let last = state.lastArrival[name], state.counts[name] == watchers else {
        return nil
      }
      return last - start.at
    }
  }

  var latencies: [[Int64]] { state.withLock { $0.latencies.map { $0.sorted() } } }
  var unexpected: Int { state.withLock { $0.unexpected } }
  var errors: [String] { state.withLock { $0.errors } }

  func watcherFailed(_ description: String) {
    state.withLock { $0.errors.append(description) }
  }
}

/// Two registry replicas on one database; `watchersPerReplica` open `Find{watch: true}` streams
/// on each (over `connections` gRPC connections per replica); `events` NSEs registered one at a
/// time through replica A, each only after the previous one reached every watcher (or 5 s).
func runFanOut(
  url: String,
  poolSize: Int,
  watchersPerReplica: Int,
  connections: Int,
  events: Int,
  warmupEvents: Int
) async throws -> FanOutResult {
  try await withDatabase(url, poolSize: poolSize) { databaseA in
    try await withDatabase(url, poolSize: poolSize) { databaseB in
      try await withRegistry(on: databaseA) { addressA in
        try await withRegistry(on: databaseB) { addressB in
          progress("fan-out: replica A on \(addressA), replica B on \(addressB), same database")
          return try await withClients(connections, address: addressA) { clientsA in
            try await withClients(connections, address: addressB) { clientsB in
              try await RegistryClient.with(address: addressA) { writer in
                try await fanOut(
                  databases: [databaseA, databaseB],
                  clients: [clientsA, clientsB],
                  writer: writer,
                  watchersPerReplica: watchersPerReplica,
                  events: events,
                  warmupEvents: warmupEvents
                )
              }
            }
          }
        }
      }
    }
  }
}

private func fanOut(
  databases: [PostgresDatabase],
  clients: [[RegistryClient]],
  writer: RegistryClient,
  watchersPerReplica: Int,
  events: Int,
  warmupEvents: Int
) async throws -> FanOutResult {
  let clock = ContinuousClock()
  let replicas = databases.count
  let tracker = FanOutTracker(watchers: watchersPerReplica * replicas, replicas: replicas)
  let perWatcher = warmupEvents + events

  return try await withThrowingTaskGroup(of: Bool.self) { group in
    let openStart = clock.now
    for replica in 0..<replicas {
      for index in 0..<watchersPerReplica {
        let client = clients[replica][index % clients[replica].count]
        group.addTask {
          let request = Registry_NetworkServiceEndpointQuery.with {
            $0.networkServiceEndpoint = Registry_NetworkServiceEndpoint()
            $0.watch = true
          }
          do {
            return try await client.endpoints.find(request) { response in
              var seen = 0
              for try await message in response.messages {
                let now = clock.now
                tracker.received(
                  message.networkServiceEndpoint.name,
                  deleted: message.deleted,
                  replica: replica,
                  at: now
                )
                seen += 1
                if seen >= perWatcher { return true }
              }
              tracker.watcherFailed("replica \(replica) watcher \(index): stream ended after \(seen) events")
              return false
            }
          } catch {
            if !Task.isCancelled { tracker.watcherFailed("replica \(replica) watcher \(index): \(error)") }
            return false
          }
        }
      }
    }

    // Every watch is subscribed to its replica's change feed before the first event.
    var ready = false
    for _ in 0..<3000 {
      if databases.allSatisfy({ $0.watcherCount >= watchersPerReplica }) {
        ready = true
        break
      }
      if !tracker.errors.isEmpty { break }
      try await Task.sleep(for: .milliseconds(20))
    }
    let openTime = clock.now - openStart
    guard ready else {
      group.cancelAll()
      throw BenchError(
        "watches did not open within 60 s: \(databases.map(\.watcherCount)) open; errors: "
          + tracker.errors.prefix(5).joined(separator: "; ")
      )
    }
    progress(
      "fan-out: \(watchersPerReplica * replicas) watches open in \(format(openTime.seconds, digits: 2)) s; "
        + "registering \(warmupEvents) warm-up + \(events) measured NSEs through replica A ..."
    )

    var registerLatencies: [Int64] = []
    var completion: [Int64] = []
    var incomplete = 0
    for i in 0..<(warmupEvents + events) {
      let measured = i >= warmupEvents
      let name = measured ? "fanout-\(i - warmupEvents)" : "fanout-warmup-\(i)"
      let start = clock.now
      tracker.willRegister(name, at: start, measured: measured)
      _ = try await writer.register(Fixtures.endpoint(name))
      let registered = clock.now
      let complete = await tracker.waitForAll(name, timeout: .seconds(5))
      guard measured else { continue }
      registerLatencies.append((registered - start).nanoseconds)
      if complete, let done = tracker.completion(of: name) {
        completion.append(done.nanoseconds)
      } else {
        incomplete += 1
      }
    }

    // Watchers end by themselves once they have every event; give stragglers 5 s.
    group.addTask {
      try? await Task.sleep(for: .seconds(5))
      return false
    }
    var finished = 0
    let total = watchersPerReplica * replicas
    while finished < total, let done = try await group.next() {
      if done { finished += 1 } else { break }
    }
    group.cancelAll()

    return FanOutResult(
      watchers: Array(repeating: watchersPerReplica, count: replicas),
      events: events,
      warmupEvents: warmupEvents,
      latencies: tracker.latencies,
      completion: completion.sorted(),
      incompleteEvents: incomplete,
      registerLatencies: registerLatencies.sorted(),
      unexpectedEvents: tracker.unexpected,
      watcherErrors: tracker.errors,
      openTime: openTime
    )
  }
}
