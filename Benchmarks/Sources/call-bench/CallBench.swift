import ArgumentParser
import BenchSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NSMAPI
import NSMCore
import NSMRegistry
import NSMTesting
import NSMTransport
import SwiftProtobuf

/// The cost of one call next to upstream's stack (docs/benchmarks.md "One call"): one grpc-go
/// load generator against servers in separate processes, one after the other, in one run.
@main
struct CallBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "call-bench",
    abstract: "Measure one registry call against a grpc-go and a grpc-swift echo, each in its own process.",
    discussion: """
      Builds the grpc-go probe (Tests/Tools/grpc-go-probe: Debian's golang-go and \
      golang-google-grpc-dev, GOPATH mode), then runs its closed-loop load (raw bytes, \
      CONNECTIONS connections, one call in flight on each) against: a bare grpc-go unary \
      echo (upstream NSM's stack), a bare grpc-swift unary echo (our stack's floor), and \
      `nsm registry --insecure` (memory store, ENDPOINTS endpoints registered) answering \
      Find-by-name and Register (a refresh). Server CPU per call is the server process's \
      user + system time over the calls answered. Markdown on standard output.
      """
  )

  @Option(help: "Connections of the load generator, one call in flight on each.")
  var connections = 8

  @Option(help: "Measured seconds per scenario.")
  var duration = 5.0

  @Option(help: "Endpoints registered before Find-by-name.")
  var endpoints = 1_000

  @Option(help: "The nsm executable (default: the main package's release build, ../.build/release/nsm).")
  var nsm: String?

  @Flag(help: "Run the registry on a throwaway PostgreSQL server (fsync=off) instead of the memory store.")
  var postgres = false

  @Flag(help: .hidden) var serveSwiftEcho = false
  @Flag(help: .hidden) var onEventLoops = false

  func run() async throws {
    if serveSwiftEcho { return try await serveEcho() }
    let database = postgres ? try await TestPostgres.start() : nil
    do {
      try await measure(database: database)
    } catch {
      await database?.stop()
      throw error
    }
    await database?.stop()
  }

  private func measure(database: TestPostgres?) async throws {
    let nsm =
      self.nsm
      ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/release/nsm").path
    guard FileManager.default.isExecutableFile(atPath: nsm) else {
      throw BenchError("no nsm at \(nsm): swift build -c release --product nsm in the main package, or --nsm")
    }
    let startedAt = Date()
    let loadBefore = loadAverage()
    progress("building the grpc-go probe ...")
    let probe = try await GRPCGoProbe.executable()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("call-bench-\(getpid())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }

    let target = "nse-\(endpoints / 2)"
    let echoPayload = try write(Fixtures.endpoint(target), to: folder, as: "echo")
    let findRequest = try write(
      Registry_NetworkServiceEndpointQuery.with { $0.networkServiceEndpoint = .with { $0.name = target } },
      to: folder,
      as: "find"
    )
    let refresh = try write(Fixtures.endpoint(target, expiresIn: 3000), to: folder, as: "register")
    let load = Load(probe: probe, duration: duration)

    var rows: [Row] = []
    let goEcho = try Server.start([probe, "echo-server", "-addr", "127.0.0.1:0"], name: "grpc-go echo")
    defer { goEcho.stop() }
    let swiftEcho = try Server.start([CommandLine.arguments[0], "--serve-swift-echo"], name: "grpc-swift echo")
    defer { swiftEcho.stop() }
    let swiftEchoOnLoops = try Server.start(
      [CommandLine.arguments[0], "--serve-swift-echo", "--on-event-loops"],
      name: "grpc-swift echo, handlers on the event loops"
    )
    defer { swiftEchoOnLoops.stop() }
    let port = try freePort()
    let store = database.map { ["--store", $0.baseURL + "/postgres"] } ?? []
    let registry = try Server.start(
      [
        nsm, "registry", "--insecure", "--listen", "tcp://127.0.0.1:\(port)", "--domain", "bench.nsm.test",
        "--expire-period", "1h", "--log-level", "error",
      ] + store,
      name: "nsm registry",
      address: "127.0.0.1:\(port)"
    )
    defer { registry.stop() }
    try await registry.waitUntilReachable()
    progress("registering \(endpoints) endpoints ...")
    try await RegistryClient.with(address: .tcp(host: "127.0.0.1", port: port)) { client in
      for i in 0..<endpoints { _ = try await client.register(Fixtures.endpoint("nse-\(i)", expiresIn: 3000)) }
    }

    // What each scenario calls: (label, server, method, unary, request bytes).
    typealias Scenario = (label: String, server: Server, method: String, unary: Bool, request: String)
    let echo = "/bench.Echo/Echo"
    let find = "/registry.NetworkServiceEndpointRegistry/Find"
    let register = "/registry.NetworkServiceEndpointRegistry/Register"
    let goEchoCall: Scenario = ("grpc-go echo", goEcho, echo, true, echoPayload)
    let swiftEchoCall: Scenario = ("grpc-swift echo", swiftEcho, echo, true, echoPayload)
    let loopsEchoCall: Scenario = (
      "grpc-swift echo, handlers on the event loops", swiftEchoOnLoops, echo, true, echoPayload
    )
    let on = postgres ? ", PostgreSQL" : ""
    let findCall: Scenario = ("nsm registry Find-by-name (\(endpoints) NSEs\(on))", registry, find, false, findRequest)
    let registerCall: Scenario = ("nsm registry Register (refresh\(on))", registry, register, true, refresh)
    // The grpc-go echo first and last at full load, so that drift over the run shows.
    var first = goEchoCall
    first.label += ", first"
    var last = goEchoCall
    last.label += ", last"
    let plan: [(Scenario, Int)] =
      [first, swiftEchoCall, loopsEchoCall, findCall, registerCall, last].map { ($0, connections) }
      + [goEchoCall, swiftEchoCall, loopsEchoCall, findCall].map { ($0, 1) }
    for (scenario, connections) in plan {
      progress("\(scenario.label), \(connections) connection(s) ...")
      rows.append(
        try await load.run(
          scenario.label,
          against: scenario.server,
          method: scenario.method,
          unary: scenario.unary,
          request: scenario.request,
          connections: connections
        )
      )
    }

    print(
      """
      call-bench \(ISO8601DateFormatter().string(from: startedAt)): \(build), \(ProcessInfo.processInfo.activeProcessorCount) cores; \
      grpc-go probe load, closed loop, one call in flight per connection, \(format(duration, digits: 1)) s per scenario; \
      load average at start: \(loadBefore ?? "?"), at end: \(loadAverage() ?? "?")

      """
    )
    Row.print(rows, baseline: { $0.label.hasPrefix("grpc-go echo,") && $0.connections == connections })
  }

  private var build: String {
    #if DEBUG
      "debug build of call-bench"
    #else
      "release build of call-bench"
    #endif
  }

  /// `--serve-swift-echo`: the grpc-swift echo on 127.0.0.1:0, its address printed as the
  /// grpc-go probe's echo server prints it, until killed; with `--on-event-loops` its handlers
  /// run where swift-nsm's servers run theirs (NSMTransport's `EventLoopExecutor`).
  private func serveEcho() async throws {
    if onEventLoops {
      try await withTaskExecutorPreference(EventLoopExecutor()) { try await serveEchoHere() }
    } else {
      try await serveEchoHere()
    }
  }

  private func serveEchoHere() async throws {
    let transport = HTTP2ServerTransport.Posix(
      address: .ipv4(host: "127.0.0.1", port: 0),
      transportSecurity: .plaintext,
      config: .defaults
    )
    try await withGRPCServer(transport: transport, services: [EchoService<Registry_NetworkServiceEndpoint>()]) { _ in
      guard let port = try await transport.listeningAddress.ipv4?.port else {
        throw BenchError("the echo server has no IPv4 address")
      }
      FileHandle.standardOutput.write(Data("{\"listening\":\"127.0.0.1:\(port)\"}\n".utf8))
      while true { try await Task.sleep(for: .seconds(3600)) }
    }
  }

  private func write(_ message: some SwiftProtobuf.Message, to folder: URL, as name: String) throws -> String {
    let path = folder.appendingPathComponent(name).path
    try Data(try message.serializedBytes() as [UInt8]).write(to: URL(fileURLWithPath: path))
    return path
  }
}

func progress(_ message: String) { writeProgress("call-bench", message) }

/// A port free on 127.0.0.1 a moment ago.
func freePort() throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
      bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
    }
  }
  guard bound else { throw BenchError("no free port") }
  return Int(UInt16(bigEndian: address.sin_port))
}
