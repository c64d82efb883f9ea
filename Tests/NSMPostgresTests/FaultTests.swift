import Foundation
import GRPCCore
import NSMAPI
import NSMCore
import NSMPostgres
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Synchronization
import Testing

/// The database dies under load and comes back; the registry rides it out without a restart.
@Suite("Database crash", .serialized, .timeLimit(.minutes(3)))
struct FaultTests {
  final class Outcomes: Sendable {
    let state = Mutex<(acknowledged: [String], failed: [(String, RPCError.Code)])>(([], []))
  }

  @Test func acknowledgedRegistrationsSurviveAKill9() async throws {
    let server = try await TestPostgres.start()
    defer { Task { await server.stop() } }
    let url = try await server.makeDatabase()
    var options = PostgresDatabase.Options()
    options.deadline = .seconds(2)
    let outcomes = Outcomes()

    try await withDatabase(url, options: options) { database in
      try await withRegistry(on: database, configure: { $0.expirePeriod = .seconds(3600) }) { address in
        try await RegistryClient.with(address: address) { client in
          // The pool's first connections, opened under the whole suite's load, may take longer
          // than the 2 s store deadline: warm them before the watch must open in time.
          for _ in 0..<20 where (try? await client.find(Fixtures.endpoint("", services: [], url: ""))) == nil {}
          try await client.watch(Fixtures.endpoint("", services: ["ns-1"], url: "")) { watch in
            try await withThrowingTaskGroup(of: Void.self) { group in
              // A client streaming Registers, one after another, as registrants do.
              group.addTask {
                for i in 0..<400 {
                  let name = "nse-\(i)"
                  do {
                    _ = try await client.register(Fixtures.endpoint(name))
                    outcomes.state.withLock { $0.acknowledged.append(name) }
                  } catch let error as RPCError {
                    outcomes.state.withLock { $0.failed.append((name, error.code)) }
                    try await Task.sleep(for: .milliseconds(50))
                  }
                  if outcomes.state.withLock({ $0.acknowledged.count }) >= 300 { return }
                }
              }
              // Kill -9 the database after some registrations, leave it down, start it again.
              // Generous: the whole suite runs in parallel on two cores.
              #expect(
                await eventually(within: .seconds(90)) { outcomes.state.withLock { $0.acknowledged.count } >= 50 }
              )
              try await server.crash()
              try await Task.sleep(for: .seconds(3))
              try await server.restart()
              try await group.waitForAll()
            }

            let (acknowledged, failed) = outcomes.state.withLock { ($0.acknowledged, $0.failed) }
            #expect(!failed.isEmpty, "some registrations met the dead database")
            #expect(failed.allSatisfy { $0.1 == .unavailable }, "\(failed.map { "\($0.0): \($0.1)" })")
            #expect(acknowledged.count >= 300, "the registry recovered by itself")

            // Every acknowledged registration is in the database.
            let stored = Set(try await client.find(Fixtures.endpoint("", services: [], url: "")).map(\.name))
            #expect(Set(acknowledged).isSubset(of: stored))

            // The watch opened before the crash is still served: it saw every acknowledged
            // registration (what happened while its replica was cut off arrived after the
            // reconnect, in order) and it sees new changes.
            _ = try await client.register(Fixtures.endpoint("after-restart"))
            var seen = Set<String>()
            while let event = try await watch.next() {
              seen.insert(event.networkServiceEndpoint.name)
              if event.networkServiceEndpoint.name == "after-restart" { break }
            }
            #expect(seen.contains("after-restart"))
            #expect(Set(acknowledged).isSubset(of: seen), "missed: \(Set(acknowledged).subtracting(seen).sorted())")
          }
        }
      }
    }
  }
}
