import Foundation
import NSMAPI
import NSMPostgres
import NSMStore
import NSMTesting
import PostgresNIO
import Synchronization
import Testing

/// Many writers on several replicas, with no lock between them, against one database that is
/// killed with -9 on the way: every watcher on every replica must see exactly the committed
/// history of each name, in commit order, without a gap or a duplicate.
@Suite("Concurrent writers on replicas", .serialized, .timeLimit(.minutes(3)))
struct ConcurrentWritersTests {
  /// What one watcher saw: its initial matches (name → token) and then every event.
  final class Seen: Sendable {
    let state = Mutex<(initial: [String: String], events: [(name: String, change: String)], error: String?)>(
      ([:], [], nil)
    )
  }

  /// Changes the writers were told committed.
  final class Acknowledged: Sendable {
    let changes = Mutex<[String]>([])
    let attempts = Mutex(0)
  }

  static let names = (0..<12).map { "nse-\($0)" }

  @Test func everyWatcherSeesExactlyTheCommittedHistoryAcrossAKill9() async throws {
    // Commit timestamps give the test its own account of each name's commit order.
    let server = try await TestPostgres.start(settings: ["track_commit_timestamp=on"])
    defer { Task { await server.stop() } }
    let url = try await server.makeDatabase()
    var options = NSMPostgres.PostgresDatabase.Options()
    options.deadline = .seconds(2)
    let acknowledged = Acknowledged()

    try await withDatabase(url, options: options) { a in
      try await withDatabase(url, options: options) { b in
        try await withDatabase(url, options: options) { c in
          let replicas = [a, b, c]
          var watchers: [Seen] = []
          try await withThrowingTaskGroup(of: Void.self) { watching in
            // Watches opened before any write, one per replica.
            for replica in replicas { watchers.append(try await Self.watch(replica, in: &watching)) }

            try await withThrowingTaskGroup(of: Void.self) { load in
              for (index, replica) in replicas.enumerated() {
                // Three writers per replica, all on the same dozen names.
                for writer in 0..<3 {
                  load.addTask {
                    for step in 0..<150 {
                      let token = "r\(index)w\(writer)s\(step)"
                      acknowledged.attempts.withLock { $0 += 1 }
                      await Self.write(token, on: replica, acknowledged: acknowledged)
                    }
                  }
                }
                // Every replica reaps, as registries do, racing the refreshes.
                load.addTask {
                  while acknowledged.attempts.withLock({ $0 }) < 1350 {
                    _ = try? await replica.endpoints.removeExpired(now: Date())
                    try await Task.sleep(for: .milliseconds(100))
                  }
                }
              }
              #expect(await eventually(within: .seconds(60)) { acknowledged.changes.withLock { $0.count } >= 200 })
              // More watches, opened under load: their initial state must join their events.
              for replica in replicas { watchers.append(try await Self.watch(replica, in: &watching)) }
              try await server.crash()
              try await Task.sleep(for: .seconds(2))
              try await server.restart()
              try await load.waitForAll()
            }

            // Written after everything else committed: once a watcher has it, it has the rest.
            let marker = try await Self.retrying { try await a.endpoints.register(Fixtures.endpoint("zz-marker")) }
            #expect(marker.name == "zz-marker")
            for (index, seen) in watchers.enumerated() {
              #expect(
                await eventually(within: .seconds(30)) {
                  seen.state.withLock { state in state.events.contains { $0.name == "zz-marker" } || state.error != nil
                  }
                },
                "watcher \(index) never saw the marker"
              )
            }
            watching.cancelAll()
          }

          let history = try await Self.history(a)
          let committed = Set(history.values.joined())
          for change in acknowledged.changes.withLock({ $0 }) {
            #expect(committed.contains(change), "acknowledged \(change) is not in the change log")
          }
          let total = history.values.map(\.count).reduce(0, +)
          #expect(total > 500, "the load committed only \(total) changes")
          for (index, seen) in watchers.enumerated() {
            let (initial, events, error) = seen.state.withLock { ($0.initial, $0.events, $0.error) }
            #expect(error == nil, "watcher \(index) ended: \(error ?? "")")
            // The first three watches opened before any write: they must have every change.
            Self.check(initial: initial, events: events, against: history, watcher: index, fromStart: index < 3)
          }
        }
      }
    }
  }

  /// One write with a random outcome-relevant shape: mostly refreshes, some unregisters, some
  /// leases short enough to expire under the reapers.
  static func write(_ tag: String, on replica: NSMPostgres.PostgresDatabase, acknowledged: Acknowledged) async {
    let name = names.randomElement()!
    let roll = Int.random(in: 0..<100)
    do {
      if roll < 20 {
        if let removed = try await replica.endpoints.unregister(name: name) {
          acknowledged.changes.withLock { $0.append("-" + token(removed)) }
        }
        return
      }
      let lease: TimeInterval = roll < 30 ? 0.2 : 60
      _ = try await replica.endpoints.register(
        Fixtures.endpoint(name, url: "tcp://10.0.0.1:5001/\(tag)", expiresIn: lease)
      )
      acknowledged.changes.withLock { $0.append("+" + tag) }
    } catch {
      // The database is down: the outcome is unknown, the change log says what committed.
      try? await Task.sleep(for: .milliseconds(50))
    }
  }

  static func watch(_ replica: NSMPostgres.PostgresDatabase, in group: inout ThrowingTaskGroup<Void, any Error>)
    async throws -> Seen
  {
    let seen = Seen()
    let watch = try await retrying {
      try await replica.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 1_000_000)
    }
    seen.state.withLock { state in
      for record in watch.initial { state.initial[record.name] = token(record) }
    }
    group.addTask {
      do {
        for try await event in watch.events {
          seen.state.withLock {
            $0.events.append((event.record.name, (event.deleted ? "-" : "+") + token(event.record)))
          }
        }
        // Cancelled at the end of the test; anything else is a watch that gave up.
        if !Task.isCancelled { seen.state.withLock { $0.error = "the stream ended" } }
      } catch is CancellationError {
      } catch {
        seen.state.withLock { $0.error = "\(error)" }
      }
    }
    return seen
  }

  static func token(_ record: Registry_NetworkServiceEndpoint) -> String {
    String(record.url.split(separator: "/").last ?? "")
  }

  /// Each name's committed changes in commit order, from the change log and PostgreSQL's own
  /// commit timestamps (the feed orders by transaction number instead); on a server without
  /// them (`NSM_TEST_POSTGRES_URL`), in the log's order of transactions. Either way a delete
  /// must directly follow the registration it removed.
  static func history(_ database: NSMPostgres.PostgresDatabase) async throws -> [String: [String]] {
    let tracked = try await database.client.query("SHOW track_commit_timestamp")
    var order = "tx, seq"
    for try await setting in tracked.decode(String.self) where setting == "on" {
      order = "pg_xact_commit_timestamp((tx % 4294967296)::text::xid), seq"
    }
    var history: [String: [String]] = [:]
    let rows = try await database.client.query(
      PostgresQuery(unsafeSQL: "SELECT name, deleted, record FROM nsm_changes ORDER BY name, \(order)")
    )
    for try await (name, deleted, bytes) in rows.decode((String, Bool, ByteBuffer).self) {
      let record = try Registry_NetworkServiceEndpoint(serializedBytes: Array(bytes.readableBytesView))
      let change = (deleted ? "-" : "+") + token(record)
      if deleted {
        #expect(history[name]?.last == "+" + token(record), "\(name): \(change) after \(history[name] ?? [])")
      }
      history[name, default: []].append(change)
    }
    return history
  }

  /// The watcher's initial state must be the state after some prefix of each name's history,
  /// and its events exactly the rest of it.
  static func check(
    initial: [String: String],
    events: [(name: String, change: String)],
    against history: [String: [String]],
    watcher: Int,
    fromStart: Bool
  ) {
    var perName: [String: [String]] = [:]
    for event in events { perName[event.name, default: []].append(event.change) }
    for name in Set(history.keys).union(perName.keys) {
      let log = history[name] ?? []
      let got = perName[name] ?? []
      let start = log.count - got.count
      guard start >= 0, Array(log[start...]) == got, !fromStart || start == 0 else {
        let tail = Array(log[max(0, start)...])
        let first = (0..<min(tail.count, got.count)).first { tail[$0] != got[$0] } ?? min(tail.count, got.count)
        Issue.record(
          """
          watcher \(watcher), \(name): \(got.count) events, history of \(log.count); first difference at \
          event \(first): events \(got[max(0, first - 3)..<min(got.count, first + 4)]), history \
          \(tail[max(0, first - 3)..<min(tail.count, first + 4)])
          """
        )
        continue
      }
      // The state the history leaves after its first `start` changes.
      let before = start == 0 ? nil : log[start - 1]
      let state = before.flatMap { $0.hasPrefix("+") ? String($0.dropFirst()) : nil }
      #expect(initial[name] == state, "watcher \(watcher), \(name): initial \(initial[name] ?? "none"), history \(log)")
    }
  }

  static func retrying<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    for _ in 0..<50 {
      if let value = try? await body() { return value }
      try await Task.sleep(for: .milliseconds(200))
    }
    return try await body()
  }
}
