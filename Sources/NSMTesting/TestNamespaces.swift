internal import Foundation
internal import NSMCore

/// Network namespaces a test makes for itself (as root), each with its loopback up, removed
/// when ``run(_:_:)`` returns, also when the test fails. Addresses and traffic stay inside them.
public struct TestNamespaces: Sendable {
  /// The namespaces' names, by the role the test gave them.
  public let names: [String: String]

  public static let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"

  /// Whether this process may make namespaces (root with iproute2).
  public static var available: Bool {
    getuid() == 0 && FileManager.default.isExecutableFile(atPath: ip)
  }

  public static func run<Result: Sendable>(
    _ roles: [String],
    _ body: (TestNamespaces) async throws -> Result
  ) async throws -> Result {
    sweepOnce()
    // The owner's process id in the name: a run killed with -9 never reaches the `defer`
    // below, and the next run deletes what it left (``sweepOnce()``).
    let tag = "\(getpid())x" + String(UUID().uuidString.prefix(4)).lowercased()
    var names: [String: String] = [:]
    for role in roles { names[role] = "nsmt-\(tag)-\(role)" }
    let namespaces = TestNamespaces(names: names)
    defer {
      for name in names.values { _ = try? Process.run(URL(fileURLWithPath: ip), arguments: ["netns", "delete", name]) }
    }
    for name in names.values {
      try await namespaces.mustRun([ip, "netns", "add", name])
      try await namespaces.mustRun([ip, "-n", name, "link", "set", "lo", "up"])
    }
    return try await body(namespaces)
  }

  /// Namespaces of test processes that no longer run (killed before they could clean up),
  /// deleted once per process.
  static let sweep: Void = sweepStale()

  static func sweepOnce() { _ = sweep }

  /// Deletes every `nsmt-<pid>x...` namespace whose process `pid` does not exist.
  public static func sweepStale() {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
    for entry in entries where entry.hasPrefix("nsmt-") {
      let owner = entry.dropFirst("nsmt-".count).prefix { $0 != "x" }
      guard let pid = pid_t(owner), pid > 0, kill(pid, 0) != 0, errno == ESRCH else { continue }
      _ = try? Process.run(URL(fileURLWithPath: ip), arguments: ["netns", "delete", entry])
    }
  }

  public func name(_ role: String) -> String { names[role]! }

  /// What a process started with this launcher runs in: the namespace of `role`.
  public func launcher(_ role: String) -> [String] { [Self.ip, "netns", "exec", name(role)] }

  /// Runs a command in the namespace of `role`; its exit status and output.
  @discardableResult
  public func exec(_ role: String, _ command: [String]) async throws -> (status: Int32, output: String) {
    try await runProgram(Self.ip, ["netns", "exec", name(role)] + command)
  }

  /// A veth pair named `name` between the namespaces of two roles, each end with its address
  /// (`172.31.254.1/24`) and up: an underlay link that exists only inside them.
  public func connect(
    _ first: String,
    _ firstAddress: String,
    _ second: String,
    _ secondAddress: String,
    name: String = "under"
  ) async throws {
    let (a, b) = (self.name(first), self.name(second))
    try await mustRun([Self.ip, "-n", a, "link", "add", name, "type", "veth", "peer", "name", name, "netns", b])
    try await mustRun([Self.ip, "-n", a, "address", "add", firstAddress, "dev", name])
    try await mustRun([Self.ip, "-n", b, "address", "add", secondAddress, "dev", name])
    try await mustRun([Self.ip, "-n", a, "link", "set", name, "up"])
    try await mustRun([Self.ip, "-n", b, "link", "set", name, "up"])
  }

  /// The file that names the namespace of `role`.
  public func path(_ role: String) -> String { "/run/netns/\(name(role))" }

  func mustRun(_ command: [String]) async throws {
    let result = try await runProgram(command[0], Array(command.dropFirst()))
    guard result.status == 0 else {
      throw NSMError(.internal, "\(command.joined(separator: " ")) failed: \(result.output)")
    }
  }
}
