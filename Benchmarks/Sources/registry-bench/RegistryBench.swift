import ArgumentParser
import BenchSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport

/// Registry throughput and latency over loopback gRPC, against a bare echo service on the
/// same stack (docs/benchmarks.md).
@main
struct RegistryBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "registry-bench",
    abstract: "Measure NSE Register and Find-by-name over loopback gRPC against a bare unary echo.",
    discussion: """
      Runs, in one process: an in-process registry with the memory store and a bare echo \
      service, each on 127.0.0.1:0 (HTTP/2, plaintext), and N clients, each with its own \
      connection, calling in a closed loop. Prints a Markdown table on standard output; \
      progress goes to standard error.
      """
  )

  @Option(help: "Concurrent clients, each with its own GRPCClient and HTTP/2 connection.")
  var clients = 8

  @Option(help: "Measured seconds per scenario (default 5; 0.5 with --quick).")
  var duration: Double?

  @Option(help: "Measure a fixed number of calls per client instead of a duration.")
  var calls: Int?

  @Option(help: "Warm-up seconds per scenario, not measured (default 1; 0.2 with --quick).")
  var warmup: Double?

  @Option(help: "NSEs registered for the large Find-by-name scenario (default 100000; 10000 with --quick).")
  var bulk: Int?

  @Option(help: "NSEs registered for the small Find-by-name scenario.")
  var small = 1_000

  @Flag(help: "A short smoke run: 0.5 s per scenario, 0.2 s warm-up, 10000 bulk NSEs unless given.")
  var quick = false

  var measuredSeconds: Double { duration ?? (quick ? 0.5 : 5) }
  var warmupSeconds: Double { warmup ?? (quick ? 0.2 : 1) }
  var bulkCount: Int { bulk ?? (quick ? 10_000 : 100_000) }

  func validate() throws {
    guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
    guard measuredSeconds > 0 else { throw ValidationError("--duration must be positive") }
    guard warmupSeconds >= 0 else { throw ValidationError("--warmup must not be negative") }
    if let calls, calls < 1 { throw ValidationError("--calls must be at least 1") }
    guard small >= 1 else { throw ValidationError("--small must be at least 1") }
    guard bulkCount > small else { throw ValidationError("--bulk must be larger than --small") }
  }

  func run() async throws {
    let plan: Plan = calls.map { .calls($0) } ?? .duration(.seconds(measuredSeconds))
    let warmup = Duration.seconds(warmupSeconds)
    let clientCount = clients
    let small = self.small
    let bulk = bulkCount
    let startedAt = Date()
    let loadBefore = loadAverage()

    let results = try await withEchoServer { echoPort in
      try await TestRegistry.run(configure: { $0.expirePeriod = .seconds(3600) }) { registry in
        progress("registry on \(registry.address), echo on 127.0.0.1:\(echoPort)")
        let echoAddress = ServiceAddress.tcp(host: "127.0.0.1", port: echoPort)
        return try await withClients(clientCount, address: echoAddress) { echoClients in
          try await withClients(clientCount, address: registry.address) { registryClients in
            var results: [ScenarioResult] = []

            // 1. The baseline: a unary echo of an endpoint. Measured first and again last, so
            //    that drift over the run (other load, heap growth) shows instead of skewing ratios.
            let payload = Fixtures.endpoint("bench-echo")
            func echo(_ name: String) async throws -> ScenarioResult {
              progress("\(name) ...")
              return try await runClosedLoop(
                name: name,
                storeSize: nil,
                clients: echoClients,
                warmup: warmup,
                plan: plan
              ) { client, _, _ in
                _ = try await client.grpc.echo(payload)
              }
            }
            results.append(try await echo("Echo (bare unary), first"))

            // 2. Find-by-name with `small` and then `bulk` endpoints registered.
            let target = Fixtures.endpoint(endpointName(small / 2))
            for size in [small, bulk] {
              try await load(registry: registry, clients: registryClients, upTo: size)
              progress("find-by-name with \(size) NSEs ...")
              results.append(
                try await runClosedLoop(
                  name: "Find-by-name",
                  storeSize: registry.endpoints.count,
                  clients: registryClients,
                  warmup: warmup,
                  plan: plan
                ) { client, _, _ in
                  let found = try await client.find(target)
                  guard found.count == 1, found[0].name == target.name else {
                    throw BenchError("Find of \(target.name) returned \(found.count) endpoints")
                  }
                }
              )
            }

            // 3. Register of new, distinct names (the store keeps the bulk endpoints).
            progress("register ...")
            results.append(
              try await runClosedLoop(
                name: "Register (new NSE)",
                storeSize: registry.endpoints.count,
                clients: registryClients,
                warmup: warmup,
                plan: plan
              ) { client, index, sequence in
                _ = try await client.register(Fixtures.endpoint("bench-reg-\(index)-\(sequence)"))
              }
            )

            results.append(try await echo("Echo (bare unary), last"))
            return results
          }
        }
      }
    }

    print(
      report(
        results: results,
        startedAt: startedAt,
        plan: plan,
        warmup: warmup,
        clients: clientCount,
        loadBefore: loadBefore,
        loadAfter: loadAverage()
      )
    )
  }
}

func progress(_ message: String) {
  writeProgress("registry-bench", message)
}

func endpointName(_ index: Int) -> String { "bench-nse-\(index)" }

/// Registers `bench-nse-<i>` until the store holds `size` of them, the clients striding over
/// the indexes concurrently.
func load(registry: TestRegistry, clients: [RegistryClient], upTo size: Int) async throws {
  let from = registry.endpoints.count
  guard from < size else { return }
  progress("loading NSEs \(from)..<\(size) with \(clients.count) clients ...")
  let clock = ContinuousClock()
  let start = clock.now
  try await withThrowingTaskGroup(of: Void.self) { group in
    for (index, client) in clients.enumerated() {
      group.addTask {
        for i in stride(from: from + index, to: size, by: clients.count) {
          _ = try await client.register(Fixtures.endpoint(endpointName(i)))
        }
      }
    }
    try await group.waitForAll()
  }
  let elapsed = clock.now - start
  let count = registry.endpoints.count
  guard count == size else { throw BenchError("store holds \(count) NSEs after loading, not \(size)") }
  progress(
    "loaded \(size - from) NSEs in \(format(elapsed.seconds, digits: 2)) s "
      + "(\(format(Double(size - from) / elapsed.seconds, digits: 0)) registrations/s, not part of the table)"
  )
}

/// Runs the echo service on its own server on 127.0.0.1:0 for `body`, which gets its port.
func withEchoServer<Result: Sendable>(_ body: (Int) async throws -> Result) async throws -> Result {
  let transport = HTTP2ServerTransport.Posix(
    address: .ipv4(host: "127.0.0.1", port: 0),
    transportSecurity: .plaintext,
    config: .defaults
  )
  return try await withGRPCServer(transport: transport, services: [EchoService<Registry_NetworkServiceEndpoint>()]) {
    _ in
    guard let port = try await transport.listeningAddress.ipv4?.port else {
      throw BenchError("echo server has no IPv4 listening address")
    }
    return try await body(port)
  }
}
