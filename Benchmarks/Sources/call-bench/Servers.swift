import BenchSupport
import Foundation
import NSMTesting

/// A server in a process of its own, whose CPU time is read from /proc.
final class Server {
  let name: String
  let address: String
  let process: Process

  private init(name: String, address: String, process: Process) {
    self.name = name
    self.address = address
    self.process = process
  }

  /// Starts `command`. Without `address`, the server prints `{"listening":"HOST:PORT"}` as
  /// its first line (the probe's echo server and the grpc-swift echo do).
  static func start(_ command: [String], name: String, address: String? = nil) throws -> Server {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    if let address { return Server(name: name, address: address, process: process) }
    var buffered = Data()
    while !buffered.contains(UInt8(ascii: "\n")) {
      let chunk = output.fileHandleForReading.availableData
      guard !chunk.isEmpty else {
        process.terminate()
        throw BenchError("\(name) exited before it listened")
      }
      buffered.append(chunk)
    }
    let line = String(decoding: buffered.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    guard let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
      let listening = json["listening"] as? String
    else {
      process.terminate()
      throw BenchError("\(name) printed '\(line)' instead of its address")
    }
    return Server(name: name, address: listening, process: process)
  }

  /// Waits until a TCP connection to the address succeeds (up to 10 s).
  func waitUntilReachable() async throws {
    let parts = address.split(separator: ":")
    guard parts.count == 2, let port = UInt16(parts[1]) else { throw BenchError("bad address \(address)") }
    for _ in 0..<200 {
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var target = sockaddr_in()
      target.sin_family = sa_family_t(AF_INET)
      target.sin_port = port.bigEndian
      target.sin_addr.s_addr = inet_addr(String(parts[0]))
      let connected = withUnsafePointer(to: &target) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
      }
      close(fd)
      if connected { return }
      try await Task.sleep(for: .milliseconds(50))
    }
    throw BenchError("\(name) does not accept connections on \(address)")
  }

  /// User plus system time of the process so far (all its threads), from /proc/PID/stat.
  func cpuTime() throws -> Duration {
    let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    guard let close = stat.lastIndex(of: ")") else { throw BenchError("unreadable /proc stat: \(stat)") }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // Fields 14 and 15 of the whole line (utime, stime) are the 12th and 13th after it.
    guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else {
      throw BenchError("unreadable /proc stat: \(stat)")
    }
    let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
    return .milliseconds((user + system) * 1000 / ticks)
  }

  func stop() {
    if process.isRunning {
      process.terminate()
      process.waitUntilExit()
    }
  }
}

/// The grpc-go probe's closed-loop load.
struct Load {
  let probe: String
  let duration: Double

  func run(
    _ label: String,
    against server: Server,
    method: String,
    unary: Bool,
    request: String,
    connections: Int
  ) async throws -> Row {
    // A short unmeasured run first: connections made, the server's caches and pools warm.
    _ = try await probe(server, method: method, unary: unary, request: request, connections: connections, seconds: 1)
    let before = try server.cpuTime()
    let result = try await probe(
      server,
      method: method,
      unary: unary,
      request: request,
      connections: connections,
      seconds: duration
    )
    let cpu = try server.cpuTime() - before
    guard let calls = result["calls"] as? Int, let outcomes = result["outcomes"] as? [String: Int],
      let p50 = result["p50_ms"] as? Double, let p99 = result["p99_ms"] as? Double
    else { throw BenchError("the probe printed \(result)") }
    guard outcomes.keys.allSatisfy({ $0 == "OK" }) else {
      throw BenchError("\(label): not every call succeeded: \(outcomes)")
    }
    return Row(
      label: label,
      server: server.name,
      connections: connections,
      calls: calls,
      seconds: duration,
      p50: p50,
      p99: p99,
      cpu: cpu
    )
  }

  private func probe(
    _ server: Server,
    method: String,
    unary: Bool,
    request: String,
    connections: Int,
    seconds: Double
  ) async throws -> [String: Any] {
    var arguments = [
      "-addr", server.address, "-conns", String(connections), "-concurrency", "1",
      "-duration", "\(Int(seconds * 1000))ms", "-method", method, "-request", request,
    ]
    if unary { arguments.append("-unary") }
    return try await GRPCGoProbe.run("load", arguments)
  }
}

/// One scenario's line of the report.
struct Row {
  var label: String
  var server: String
  var connections: Int
  var calls: Int
  var seconds: Double
  var p50: Double
  var p99: Double
  var cpu: Duration

  var opsPerSecond: Double { Double(calls) / seconds }
  var cpuPerCall: Double { cpu.seconds * 1e6 / Double(max(calls, 1)) }

  static func print(_ rows: [Row], baseline: (Row) -> Bool) {
    let base = rows.filter(baseline)
    let baseOps = base.map(\.opsPerSecond).reduce(0, +) / Double(max(base.count, 1))
    Swift.print(
      "| Scenario | Connections | Calls | ops/s | p50 ms | p99 ms | server CPU µs/call | ops/s ratio to grpc-go echo |"
    )
    Swift.print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows {
      let ratio = row.connections == base.first?.connections ? format(row.opsPerSecond / baseOps, digits: 2) : "–"
      Swift.print(
        "| \(row.label) | \(row.connections) | \(row.calls) | \(format(row.opsPerSecond, digits: 0)) | \(format(row.p50, digits: 2)) | \(format(row.p99, digits: 2)) | \(format(row.cpuPerCall, digits: 0)) | \(ratio) |"
      )
    }
  }
}
