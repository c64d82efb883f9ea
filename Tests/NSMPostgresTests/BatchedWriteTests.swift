import Foundation
import Logging
import NSMAPI
import NSMCore
import NSMStore
import NSMTesting
import PostgresNIO
import Testing

@testable import NSMPostgres

/// Concurrent writes over known rows go in batches: one statement and one commit for many.
@Suite("PostgreSQL store: batched writes", .timeLimit(.minutes(2)))
struct BatchedWriteTests {
  /// Sixty refreshes at once through one replica: each is written once, a watcher sees each
  /// once, and they took far fewer commits than writes.
  @Test func concurrentRefreshesShareCommitsAndEachIsSeenOnce() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    try await withDatabase(url) { database in
      let names = (0..<60).map { "nse-\($0)" }
      for name in names { _ = try await database.endpoints.register(Fixtures.endpoint(name, expiresIn: 60)) }
      var before: Int64 = 0
      for try await seq in try await database.client.query("SELECT max(seq) FROM nsm_changes").decode(Int64.self) {
        before = seq
      }
      let watch = try await database.endpoints.watch(Registry_NetworkServiceEndpoint(), bufferSize: 1000)
      let refreshed = try await withThrowingTaskGroup(of: Registry_NetworkServiceEndpoint.self) { group in
        for name in names {
          group.addTask {
            try await database.endpoints.register(
              Fixtures.endpoint(name, labels: ["ns-1": ["round": "2"]], url: "tcp://10.0.0.2:5001", expiresIn: 120)
            )
          }
        }
        return try await group.reduce(into: [String: Registry_NetworkServiceEndpoint]()) { $0[$1.name] = $1 }
      }
      #expect(refreshed.count == 60)
      var events = watch.events.makeAsyncIterator()
      var seen: [String: Int] = [:]
      for _ in 0..<60 {
        let event = try #require(try await events.next())
        #expect(!event.deleted && event.record == refreshed[event.record.name])
        seen[event.record.name, default: 0] += 1
      }
      #expect(seen.count == 60 && seen.values.allSatisfy { $0 == 1 })
      let stored = try await database.endpoints.find(Registry_NetworkServiceEndpoint())
      #expect(stored.count == 60 && stored.allSatisfy { $0 == refreshed[$0.name] })
      // The refreshes' changes and the transactions that wrote them.
      let rows = try await database.client.query(
        "SELECT count(*), count(DISTINCT tx) FROM nsm_changes WHERE seq > \(before)"
      )
      for try await (changes, commits) in rows.decode((Int64, Int64).self) {
        #expect(changes == 60)
        #expect(commits < 30, "\(commits) commits for 60 concurrent refreshes: they were not batched")
      }
    }
  }

  /// A row PostgreSQL refuses (a NUL in a label: jsonb cannot hold it; the registry refuses it
  /// before, this is the store alone) fails its own write only, changes nothing of its row, and
  /// the rows batched with it are written; a row whose version moved on is not written.
  @Test func aRowPostgresRefusesFailsOnlyItsOwnWrite() async throws {
    let url = try await TestPostgres.sharedServer().makeDatabase()
    let capture = LogCapture()
    try await withDatabase(url) { database in
      let names = (0..<10).map { "nse-\($0)" }
      var first: [String: Registry_NetworkServiceEndpoint] = [:]
      for name in names { first[name] = try await database.endpoints.register(Fixtures.endpoint(name, expiresIn: 60)) }
      var versions: [String: Int64] = [:]
      for try await (name, version) in try await database.client.query("SELECT name, version FROM nsm_endpoints")
        .decode((String, Int64).self)
      {
        versions[name] = version
      }
      let rows = try names.map { name in
        let record =
          name == "nse-5"
          ? Fixtures.endpoint(name, labels: ["ns-1": ["app": "a\u{0}b"]], expiresIn: 90)
          : Fixtures.endpoint(name, url: "tcp://10.0.0.9:5001", expiresIn: 90)
        // nse-7 is written as if over a version another write has replaced since.
        let expected = try #require(versions[name]) - (name == "nse-7" ? 1 : 0)
        return RowUpdate(
          record: record,
          bytes: ByteBuffer(bytes: try record.serializedBytes() as [UInt8]),
          expected: expected
        )
      }
      let results = try await database.client.withConnection { connection in
        await PostgresRecordStore<Registry_NetworkServiceEndpoint>.writeRows(
          rows,
          on: connection,
          logger: capture.logger(level: .debug)
        )
      }
      #expect(results.count == 10)
      for (name, result) in zip(names, results) {
        switch (name, result) {
        case ("nse-5", .failure): break
        case ("nse-7", .success(nil)): break
        case (_, .success(.some)) where name != "nse-5" && name != "nse-7": break
        default: Issue.record("\(name): \(result)")
        }
      }
      #expect(capture.logged.contains { $0.message.contains("batched write refused") }, "the batch was refused whole")
      let stored = try await database.endpoints.find(Registry_NetworkServiceEndpoint())
      for name in ["nse-5", "nse-7"] {
        #expect(stored.first { $0.name == name } == first[name], "\(name) is unchanged")
      }
      #expect(stored.filter { $0.url == "tcp://10.0.0.9:5001" }.count == 8)
    }
  }
}
