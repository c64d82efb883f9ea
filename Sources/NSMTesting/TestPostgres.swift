internal import Foundation
internal import Synchronization

/// A throwaway PostgreSQL server for tests: initdb in a temporary folder, on a free loopback
/// port, stopped when the test process exits. Set `NSM_TEST_POSTGRES_URL` to use an existing
/// server instead (tests then create their databases in it).
///
/// initdb refuses to run as root, so as root the cluster belongs to a system user `nsmtest`
/// (created once, without a home or shell).
public final class TestPostgres: Sendable {
  /// Where to connect as the superuser, without a database: `postgres://postgres@127.0.0.1:PORT`.
  public let baseURL: String
  /// The data folder and the user running the server; nil for an external server.
  private let cluster: Cluster?

  final class Cluster: Sendable {
    let folder: String
    let port: Int
    let runAs: String?
    let bin: String
    let options: [String]

    init(folder: String, port: Int, runAs: String?, bin: String, options: [String]) {
      self.folder = folder
      self.port = port
      self.runAs = runAs
      self.bin = bin
      self.options = options
    }

    /// The running postmaster: a direct child, so killing it is a real crash.
    let postmaster = Mutex<Process?>(nil)
  }

  private static let shared = Mutex<Task<TestPostgres, any Error>?>(nil)
  private static let startedClusters = Mutex<[String]>([])

  /// The server shared by every test of this process, started on first use.
  public static func sharedServer() async throws -> TestPostgres {
    let task = shared.withLock { task in
      if let task { return task }
      let started = Task { try await TestPostgres.start() }
      task = started
      return started
    }
    return try await task.value
  }

  /// A new server of its own (for tests that kill it); stop it with ``stop()``. With `tls`, the
  /// server offers TLS with a self-signed certificate for 127.0.0.1, at ``certificatePath``.
  /// Tests run with `fsync=off`; `durable` keeps PostgreSQL's defaults (`fsync=on`,
  /// `synchronous_commit=on`), for measurements. `settings` are more `name=value` server
  /// settings.
  public static func start(tls: Bool = false, durable: Bool = false, settings: [String] = []) async throws
    -> TestPostgres
  {
    if let url = ProcessInfo.processInfo.environment["NSM_TEST_POSTGRES_URL"], !url.isEmpty {
      return TestPostgres(baseURL: url, cluster: nil)
    }
    let bin = try findBinaries()
    let isRoot = getuid() == 0
    let user = isRoot ? "nsmtest" : nil
    if let user {
      let (status, _) = try await runProgram("/usr/bin/id", [user])
      if status != 0 {
        _ = try await runProgram("/usr/sbin/useradd", ["-M", "-r", "-s", "/bin/false", user])
      }
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-pg-\(UUID().uuidString.prefix(8))")
      .path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    if let user {
      _ = try await runProgram("/bin/chown", [user, folder])
    }
    var options = durable ? ["-c", "fsync=on", "-c", "synchronous_commit=on"] : ["-c", "fsync=off"]
    options += settings.flatMap { ["-c", $0] }
    if tls {
      let (status, output) = try await runProgram(
        "/usr/bin/openssl",
        [
          "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
          "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "\(folder)/server.key", "-out", "\(folder)/server.crt",
        ]
      )
      guard status == 0 else { throw TestPostgresError("openssl failed: \(output)") }
      chmod("\(folder)/server.key", 0o600)
      if let user { _ = try await runProgram("/bin/chown", [user, "\(folder)/server.key", "\(folder)/server.crt"]) }
      options += [
        "-c", "ssl=on", "-c", "ssl_cert_file=\(folder)/server.crt", "-c", "ssl_key_file=\(folder)/server.key",
      ]
    }
    let cluster = Cluster(folder: folder, port: try freeLoopbackPort(), runAs: user, bin: bin, options: options)
    try await cluster.run(
      "initdb",
      ["-D", "\(folder)/data", "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]
    )
    try await cluster.startServer()
    startedClusters.withLock { $0.append(folder) }
    registerCleanup()
    return TestPostgres(baseURL: "postgres://postgres@127.0.0.1:\(cluster.port)", cluster: cluster)
  }

  private init(baseURL: String, cluster: Cluster?) {
    self.baseURL = baseURL
    self.cluster = cluster
  }

  /// The server's self-signed certificate, for a server started with `tls`.
  public var certificatePath: String? {
    guard let cluster, cluster.options.contains("ssl=on") else { return nil }
    return "\(cluster.folder)/server.crt"
  }

  /// Creates an empty database and returns its URL (`sslmode=disable` unless the base URL says
  /// otherwise). With `icuLocale` its default collation is that ICU locale's (`en-US` sorts
  /// `a` before `B`, unlike byte order).
  public func makeDatabase(icuLocale: String? = nil) async throws -> String {
    let name = "nsm_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
    var statement = "CREATE DATABASE \(name)"
    if let icuLocale {
      statement +=
        " TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE '\(icuLocale)'"
    }
    try await execute(statement, database: adminURL)
    return "\(databaseURL(name))"
  }

  /// `url` (from ``makeDatabase(icuLocale:)``) through the server's unix socket instead of TCP:
  /// for a process in another network namespace, which shares the file system but not the
  /// test's 127.0.0.1.
  public func throughSocket(_ url: String) throws -> String {
    guard let cluster else { throw TestPostgresError("an external server has no socket folder here") }
    guard var components = URLComponents(string: url) else { throw TestPostgresError("not a URL: \(url)") }
    components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "host", value: cluster.folder)]
    guard let text = components.string else { throw TestPostgresError("not a URL: \(url)") }
    return text
  }

  /// Runs `sql` with psql on the database at `url` (a test reaching past the store).
  public func execute(_ sql: String, database url: String) async throws {
    let (status, output) = try await runProgram("/usr/bin/psql", [url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
    guard status == 0 else { throw TestPostgresError("psql failed: \(output)") }
  }

  private var adminURL: String { databaseURL("postgres") }

  private func databaseURL(_ database: String) -> String {
    var components = URLComponents(string: baseURL)!
    components.path = "/\(database)"
    var items = components.queryItems ?? []
    if !items.contains(where: { $0.name == "sslmode" }) {
      items.append(URLQueryItem(name: "sslmode", value: "disable"))
    }
    components.queryItems = items
    return components.string!
  }

  /// Kills the server as a crash would (SIGKILL to the postmaster and its children).
  public func crash() async throws {
    guard let cluster else { throw TestPostgresError("cannot crash an external server") }
    try await cluster.kill()
  }

  /// Starts the server again after ``crash()``; it runs crash recovery first.
  public func restart() async throws {
    guard let cluster else { throw TestPostgresError("cannot restart an external server") }
    try await cluster.startServer()
  }

  public func stop() async {
    guard let cluster else { return }
    try? await cluster.kill()
    Self.startedClusters.withLock { $0.removeAll { $0 == cluster.folder } }
    try? FileManager.default.removeItem(atPath: cluster.folder)
  }

  private static func findBinaries() throws -> String {
    let root = "/usr/lib/postgresql"
    let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    for version in versions.sorted(by: >)
    where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
      return "\(root)/\(version)/bin"
    }
    throw TestPostgresError("no PostgreSQL server binaries under \(root): run scripts/bootstrap.sh")
  }

  /// Stops every server this process started when it exits, even when a test failed.
  private static func registerCleanup() {
    struct Once { nonisolated(unsafe) static var done = false }
    guard !Once.done else { return }
    Once.done = true
    atexit {
      for folder in TestPostgres.startedClusters.withLock({ $0 }) {
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

extension TestPostgres.Cluster {
  func run(_ program: String, _ arguments: [String]) async throws {
    let path = "\(bin)/\(program)"
    let (status, output) =
      if let runAs {
        try await runProgram("/usr/sbin/runuser", ["-u", runAs, "--", path] + arguments)
      } else {
        try await runProgram(path, arguments)
      }
    guard status == 0 else { throw TestPostgresError("\(program) failed (\(status)): \(output)") }
  }

  /// Starts the postmaster in the foreground (as nsd is run in the tests) and waits until it
  /// accepts connections. Not through `pg_ctl start`: its daemon would inherit the descriptor
  /// Foundation watches to reap the child, and the wait would never end.
  func startServer() async throws {
    let process = Process()
    var arguments =
      [
        "\(bin)/postgres", "-D", "\(folder)/data", "-p", "\(port)", "-k", folder,
        "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
      ] + options
    if let runAs {
      let (uidStatus, uid) = try await runProgram("/usr/bin/id", ["-u", runAs])
      let (gidStatus, gid) = try await runProgram("/usr/bin/id", ["-g", runAs])
      guard uidStatus == 0, gidStatus == 0 else { throw TestPostgresError("no user \(runAs)") }
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
    if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    try handle.seekToEnd()
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    postmaster.withLock { $0 = process }
    for _ in 0..<600 {
      let (status, _) = try await runProgram("\(bin)/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)"])
      if status == 0 { return }
      guard process.isRunning else { break }
      try await Task.sleep(for: .milliseconds(50))
    }
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    throw TestPostgresError("postgres did not start: \(output.suffix(2000))")
  }

  /// SIGKILL to the postmaster and every backend, then the leftovers a crash leaves removed.
  func kill() async throws {
    guard let process = postmaster.withLock({ $0 }) else { return }
    let pid = process.processIdentifier
    _ = try await runProgram("/usr/bin/pkill", ["-KILL", "-P", "\(pid)"])
    Foundation.kill(pid, SIGKILL)
    for _ in 0..<200 where process.isRunning {
      try await Task.sleep(for: .milliseconds(10))
    }
    postmaster.withLock { $0 = nil }
    try? FileManager.default.removeItem(atPath: "\(folder)/data/postmaster.pid")
    try? FileManager.default.removeItem(atPath: "\(folder)/.s.PGSQL.\(port).lock")
  }
}

public struct TestPostgresError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
