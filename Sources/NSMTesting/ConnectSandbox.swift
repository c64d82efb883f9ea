internal import Foundation
public import NSMCore
internal import Synchronization

/// A domain for Network Service API tests: a registry and any number of managers (nodes),
/// endpoints and clients, each a real `nsm` process on loopback, their sockets in one temporary
/// folder. Everything it started is killed and the folder removed when ``run(_:)`` returns,
/// also when the test fails.
public final class ConnectSandbox: Sendable {
  public let folder: String
  public let registry: ServiceAddress
  private let processes = Mutex<[NSMProcess.Running]>([])
  /// The last process started under each name.
  private let named = Mutex<[String: NSMProcess.Running]>([:])
  /// Extra arguments every manager, endpoint and client gets (e.g. an identity).
  public let commonArguments: @Sendable (String) -> [String]
  /// The command each process (by name: `registry`, `apply`, a manager's, an endpoint's, a
  /// client's name) runs under, e.g. `ip netns exec NAME` for a namespace of its own.
  public let launcher: @Sendable (String) -> [String]

  private init(
    folder: String,
    registry: ServiceAddress,
    commonArguments: @escaping @Sendable (String) -> [String],
    launcher: @escaping @Sendable (String) -> [String]
  ) {
    self.folder = folder
    self.registry = registry
    self.commonArguments = commonArguments
    self.launcher = launcher
  }

  public struct Manager: Sendable {
    public let name: String
    public let process: NSMProcess.Running
    /// Where this node's workloads reach it.
    public let socket: ServiceAddress
    /// Where other managers reach it (its URL).
    public let url: ServiceAddress
  }

  /// Runs `body` with a fresh sandbox whose registry is already listening.
  public static func run<Result: Sendable>(
    registryArguments: [String] = [],
    commonArguments: @escaping @Sendable (String) -> [String] = { _ in [] },
    launcher: @escaping @Sendable (String) -> [String] = { _ in [] },
    registryHost: String = "127.0.0.1",
    _ body: (ConnectSandbox) async throws -> Result
  ) async throws -> Result {
    // A sandbox starts several processes; many at once on two cores starve every other test of
    // the suite (store calls miss their deadlines), so only a few run at a time.
    await limiter.acquire()
    defer { limiter.release() }
    // Unix socket paths are limited to 107 bytes: a short folder.
    let folder = "/tmp/nsm-" + String(UUID().uuidString.prefix(8)).lowercased()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var registryProcess: NSMProcess.Running?
    defer { try? FileManager.default.removeItem(atPath: folder) }
    do {
      let process = try NSMProcess.Running(
        ["registry", "--listen", "tcp://\(registryHost):0", "--log-level", "info"] + registryArguments
          + commonArguments("registry"),
        launcher: launcher("registry")
      )
      registryProcess = process
      let sandbox = ConnectSandbox(
        folder: folder,
        registry: try await process.registryAddress(),
        commonArguments: commonArguments,
        launcher: launcher
      )
      sandbox.processes.withLock { $0.append(process) }
      defer { sandbox.killAll() }
      return try await body(sandbox)
    } catch {
      registryProcess?.signal(SIGKILL)
      throw error
    }
  }

  /// Starts `nsm arguments`, killed with the sandbox.
  public func start(_ arguments: [String], environment: [String: String] = [:], as name: String = "")
    throws -> NSMProcess.Running
  {
    let process = try NSMProcess.Running(arguments, environment: environment, launcher: launcher(name))
    processes.withLock { $0.append(process) }
    if !name.isEmpty { named.withLock { $0[name] = process } }
    return process
  }

  /// The process last started as `name` (e.g. a registry, to kill it).
  public func process(named name: String) -> NSMProcess.Running? { named.withLock { $0[name] } }

  /// A manager for node `node`, listening on a unix socket and a tcp port.
  /// `port`: the URL of a manager to start again (a restart keeps its address).
  public func manager(
    _ name: String,
    node: String,
    port reused: ServiceAddress? = nil,
    host: String = "127.0.0.1",
    registry: ServiceAddress? = nil,
    arguments: [String] = []
  ) async throws -> Manager {
    let registry = registry ?? self.registry
    var port = try freeLoopbackPort()
    if case .tcp(_, let old)? = reused { port = old }
    let socket = ServiceAddress.unix(path: "\(folder)/\(name).sock")
    let url = ServiceAddress.tcp(host: host, port: port)
    // Tests run as root, where a manager would otherwise make vWires in the test's own
    // namespace: only the data-plane tests, in namespaces of their own, ask for it.
    let dataplane = arguments.contains("--dataplane") ? [] : ["--dataplane", "none"]
    let process = try start(
      [
        "manager", "--name", name, "--listen", socket.description, "--listen", url.description, "--registry",
        registry.description, "--node-name", node, "--log-level", "debug",
      ] + dataplane + arguments + commonArguments(name),
      as: name
    )
    guard await process.stderrLine(containing: "manager listening") != nil else {
      throw NSMError.unavailable("manager \(name) did not start: \(process.stderrLog.joined(separator: "\n"))")
    }
    return Manager(name: name, process: process, socket: socket, url: url)
  }

  /// Another registry (a second domain's), listening once this returns; killed with the sandbox.
  public func registry(_ name: String, arguments: [String]) async throws -> ServiceAddress {
    let process = try start(["registry", "--log-level", "info"] + arguments + commonArguments(name), as: name)
    return try await process.registryAddress()
  }

  /// A gateway (`nsm proxy`) of `domain` in front of `registry`, listening once this returns.
  public func proxy(
    _ name: String,
    domain: String,
    registry: ServiceAddress,
    listen: String,
    arguments: [String] = []
  ) async throws -> NSMProcess.Running {
    let process = try start(
      [
        "proxy", "--name", name, "--domain", domain, "--registry", registry.description, "--listen", listen,
        "--log-level", "debug",
      ] + arguments + commonArguments(name),
      as: name
    )
    guard await process.stderrLine(containing: "proxy listening") != nil else {
      throw NSMError.unavailable("proxy \(name) did not start: \(process.stderrLog.joined(separator: "\n"))")
    }
    return process
  }

  /// An endpoint registered through `manager`, once its registration went through.
  public func endpoint(
    _ name: String,
    manager: Manager,
    services: [String],
    labels: [String: String] = [:],
    cidr: String,
    arguments: [String] = []
  ) async throws -> NSMProcess.Running {
    var command = [
      "endpoint", "--name", name, "--connect-to", manager.socket.description, "--cidr", cidr, "--listen",
      "unix://\(folder)/\(name).sock", "--log-level", "debug",
    ]
    if !arguments.contains("--dataplane") { command += ["--dataplane", "none"] }
    for service in services { command += ["--service", service] }
    if !labels.isEmpty { command += ["--labels", Self.labels(labels)] }
    let process = try start(command + arguments + commonArguments(name), as: name)
    guard await process.stderrLine(containing: "] registered") != nil else {
      throw NSMError.unavailable("endpoint \(name) did not register: \(process.stderrLog.joined(separator: "\n"))")
    }
    return process
  }

  /// A client of `manager` printing its connections as JSON lines.
  public func client(
    _ name: String,
    manager: Manager,
    services: [String],
    labels: [String: String] = [:],
    arguments: [String] = []
  ) throws -> NSMProcess.Running {
    var command = [
      "client", "--name", name, "--connect-to", manager.socket.description, "-o", "json", "--log-level", "debug",
    ]
    for service in services { command += ["--network-service", service] }
    if !labels.isEmpty { command += ["--labels", Self.labels(labels)] }
    return try start(command + arguments + commonArguments(name), as: name)
  }

  /// `nsm apply` of a document to the registry.
  public func apply(_ yaml: String) async throws {
    let running = try NSMProcess.Running(
      ["apply", "-f", "-", "--registry", registry.description] + commonArguments("apply"),
      stdin: yaml,
      launcher: launcher("apply")
    )
    let result = await running.wait()
    guard result.status == 0 else { throw NSMError.invalidArgument("nsm apply failed: \(result.stderr)") }
  }

  /// `nsm apply` of an example of `deploy/examples`.
  public func applyExample(_ file: String) async throws {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("deploy/examples/\(file)")
    try await apply(try String(contentsOf: url, encoding: .utf8))
  }

  public func killAll() {
    let all = processes.withLock { $0 }
    for process in all where process.process.isRunning { process.signal(SIGKILL) }
  }

  private static let limiter = AsyncLimiter(2)

  static func labels(_ labels: [String: String]) -> String {
    labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
  }
}

/// At most `limit` holders at a time; the others wait in order.
final class AsyncLimiter: Sendable {
  private struct State {
    var available: Int
    var waiting: [CheckedContinuation<Void, Never>] = []
  }

  private let state: Mutex<State>

  init(_ limit: Int) {
    state = Mutex(State(available: limit))
  }

  func acquire() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let now = state.withLock { state -> Bool in
        if state.available > 0 {
          state.available -= 1
          return true
        }
        state.waiting.append(continuation)
        return false
      }
      if now { continuation.resume() }
    }
  }

  func release() {
    let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
      if state.waiting.isEmpty {
        state.available += 1
        return nil
      }
      return state.waiting.removeFirst()
    }
    next?.resume()
  }
}
