import BenchSupport
import NSMTesting
import Foundation
import Synchronization

/// The PostgreSQL server one pass of the benchmark runs against.
struct BenchServer: Sendable {
  /// How the server was started, for the report.
  let label: String
  let makeDatabase: @Sendable () async throws -> String
  let stop: @Sendable () async -> Void

  /// `TestPostgres.start()` (NSMTesting): initdb in a temporary folder, postgres with
  /// `-c fsync=off` (as the test suite runs it).
  static func testPostgres() async throws -> BenchServer {
    let server = try await TestPostgres.start()
    return BenchServer(
      label: "TestPostgres.start() (Sources/NSMTesting/TestPostgres.swift: initdb, postgres -c fsync=off)",
      makeDatabase: { try await server.makeDatabase() },
      stop: { await server.stop() }
    )
  }

  /// The same kind of throwaway server, started by the benchmark itself with `fsync=on` and
  /// `synchronous_commit=on` (PostgreSQL's defaults): every commit waits for its WAL flush.
  static func durable() async throws -> BenchServer {
    let cluster = try await DurableCluster.start()
    return BenchServer(
      label: "the benchmark's own initdb + postgres -c fsync=on -c synchronous_commit=on",
      makeDatabase: { try await cluster.makeDatabase() },
      stop: { await cluster.stop() }
    )
  }
}

/// A throwaway PostgreSQL cluster like `TestPostgres`'s (initdb into a temporary folder, trust
/// authentication, loopback only, a free port, run as the system user `nsmtest` when root) but
/// with durable commits. Stopped by ``stop()``, or at exit if the benchmark fails.
final class DurableCluster: Sendable {
  let folder: String
  let port: Int
  let bin: String
  let runAs: String?
  private let postmaster = Mutex<Process?>(nil)
  private static let running = Mutex<[String]>([])

  private init(folder: String, port: Int, bin: String, runAs: String?) {
    self.folder = folder
    self.port = port
    self.bin = bin
    self.runAs = runAs
  }

  static func start() async throws -> DurableCluster {
    let bin = try postgresBinaries()
    let runAs = getuid() == 0 ? "nsmtest" : nil
    if let runAs, try await runProgram("/usr/bin/id", [runAs]).status != 0 {
      _ = try await runProgram("/usr/sbin/useradd", ["-M", "-r", "-s", "/bin/false", runAs])
    }
    let folder = FileManager.default.temporaryDirectory
      .appendingPathComponent("nsm-bench-pg-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    if let runAs { _ = try await runProgram("/bin/chown", [runAs, folder]) }
    let cluster = DurableCluster(folder: folder, port: try freeLoopbackPort(), bin: bin, runAs: runAs)
    running.withLock { $0.append(folder) }
    registerCleanup()
    do {
      try await cluster.initdb()
      try await cluster.startServer()
    } catch {
      await cluster.stop()
      throw error
    }
    return cluster
  }

  private func initdb() async throws {
    let arguments = ["-D", "\(folder)/data", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]
    let (status, output) =
      if let runAs {
        try await runProgram("/usr/sbin/runuser", ["-u", runAs, "--", "\(bin)/initdb"] + arguments)
      } else {
        try await runProgram("\(bin)/initdb", arguments)
      }
    guard status == 0 else { throw BenchError("initdb failed (\(status)): \(output)") }
  }

  private func startServer() async throws {
    let process = Process()
    var arguments = [
      "\(bin)/postgres", "-D", "\(folder)/data", "-p", "\(port)", "-k", folder,
      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on",
      "-c", "max_connections=200",
    ]
    if let runAs {
      let uid = try await runProgram("/usr/bin/id", ["-u", runAs]).output
      let gid = try await runProgram("/usr/bin/id", ["-g", runAs]).output
      arguments =
        [
          "--reuid=\(uid.trimmingCharacters(in: .whitespacesAndNewlines))",
          "--regid=\(gid.trimmingCharacters(in: .whitespacesAndNewlines))", "--clear-groups", "--",
        ] + arguments
      process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    } else {
      process.executableURL = URL(fileURLWithPath: arguments.removeFirst())
    }
    process.arguments = arguments
    let log = "\(folder)/log"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    postmaster.withLock { $0 = process }
    for _ in 0..<600 {
      if try await runProgram("\(bin)/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)"]).status == 0 {
        return
      }
      guard process.isRunning else { break }
      try await Task.sleep(for: .milliseconds(50))
    }
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    throw BenchError("postgres did not start: \(output.suffix(2000))")
  }

  func makeDatabase() async throws -> String {
    let name = "nsm_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
    let admin = "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable"
    let (status, output) = try await runProgram("\(bin)/psql", [admin, "-q", "-c", "CREATE DATABASE \(name)"])
    guard status == 0 else { throw BenchError("CREATE DATABASE failed: \(output)") }
    return "postgres://postgres@127.0.0.1:\(port)/\(name)?sslmode=disable"
  }

  /// A fast shutdown (SIGINT), SIGKILL if it has not ended within 10 s; then the folder goes.
  func stop() async {
    if let process = postmaster.withLock({ $0 }) {
      kill(process.processIdentifier, SIGINT)
      for _ in 0..<1000 where process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
      if process.isRunning {
        _ = try? await runProgram("/usr/bin/pkill", ["-KILL", "-P", "\(process.processIdentifier)"])
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
      }
      postmaster.withLock { $0 = nil }
    }
    try? FileManager.default.removeItem(atPath: folder)
    Self.running.withLock { $0.removeAll { $0 == folder } }
  }

  /// Stops any cluster still running when the process exits (a failed run).
  private static func registerCleanup() {
    struct Once { nonisolated(unsafe) static var done = false }
    guard !Once.done else { return }
    Once.done = true
    atexit {
      for folder in DurableCluster.running.withLock({ $0 }) {
        let stop = Process()
        stop.executableURL = URL(fileURLWithPath: "/bin/sh")
        stop.arguments = [
          "-c",
          "pid=$(head -1 '\(folder)/data/postmaster.pid' 2>/dev/null) && kill -QUIT \"$pid\"; rm -rf '\(folder)'",
        ]
        try? stop.run()
        stop.waitUntilExit()
      }
    }
  }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with a server in it.
func postgresBinaries() throws -> String {
  let root = "/usr/lib/postgresql"
  let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
  for version in versions.sorted(by: >)
  where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
    return "\(root)/\(version)/bin"
  }
  throw BenchError("no PostgreSQL server binaries under \(root)")
}

/// The median time of `count` 8 KiB writes each followed by `fdatasync`, in a file in the
/// temporary folder (the same file system the clusters' data folders are on): what one WAL
/// flush costs on this disk, at most.
func fdatasyncProbe(count: Int = 200) -> Duration? {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-bench-fsync-\(getpid())").path
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard fd >= 0 else { return nil }
  defer {
    close(fd)
    unlink(path)
  }
  let block = [UInt8](repeating: 0x5A, count: 8192)
  let clock = ContinuousClock()
  var samples: [Duration] = []
  for _ in 0..<count {
    let start = clock.now
    let written = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 8192, 0) }
    guard written == 8192, fdatasync(fd) == 0 else { return nil }
    samples.append(clock.now - start)
  }
  samples.sort()
  return samples[samples.count / 2]
}
