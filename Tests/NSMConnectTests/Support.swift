import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import SwiftProtobuf

/// Reads the connections an `nsm client -o json` prints, one per line, in order.
struct ConnectionLines {
  let process: NSMProcess.Running
  private var seen = 0

  init(_ process: NSMProcess.Running) {
    self.process = process
  }

  /// The next printed connection that satisfies `condition`, within `limit`.
  mutating func next(
    within limit: Duration = .seconds(30),
    where condition: (Connection_Connection) -> Bool = { _ in true }
  ) async throws -> Connection_Connection {
    let deadline = ContinuousClock.now + limit
    while true {
      let lines = process.stdoutLog
      while seen < lines.count {
        let line = lines[seen]
        seen += 1
        let connection = try Connection_Connection(jsonString: line)
        if condition(connection) { return connection }
      }
      guard ContinuousClock.now < deadline, process.process.isRunning else {
        throw NSMError(
          .deadlineExceeded,
          "no matching connection within \(limit); client log:\n\(process.stderrLog.suffix(30).joined(separator: "\n"))"
        )
      }
      try await Task.sleep(for: .milliseconds(20))
    }
  }
}

extension Connection_Connection {
  var hops: [String] { path.pathSegments.map(\.name) }
  var clientAddress: String? { context.ipContext.srcIpAddrs.first }
}

extension NSMProcess.Running {
  /// Lines of standard error containing `text`.
  func stderrCount(_ text: String) -> Int { stderrLog.filter { $0.contains(text) }.count }
}

extension TestNamespaces {
  /// A TCP stream of `bytes` from the namespace of `client` to `address` in the namespace of
  /// `server`: the bytes the server received, and whether all were the ones sent.
  func tcpStream(from client: String, to server: String, address: String, bytes: Int = 4 << 20) async throws -> (
    received: Int, intact: Bool
  ) {
    try await NamespaceTCP.stream(from: path(client), to: path(server), address: address, count: bytes)
  }
}

extension TestNamespaces {
  /// Two nodes joined by a veth underlay (node1 172.31.254.1, node2 172.31.254.2, only inside
  /// their namespaces), the registry on node 1, a manager with a data plane on each (named
  /// `managers`, apart from every other test's), the simple service applied; `roles` places the
  /// test's other processes.
  func withTwoNodes<Result: Sendable>(
    managers: (String, String),
    roles: [String: String],
    _ body: (ConnectSandbox, ConnectSandbox.Manager, ConnectSandbox.Manager) async throws -> Result
  ) async throws -> Result {
    try await connect("node1", "172.31.254.1/24", "node2", "172.31.254.2/24")
    let placed = roles.merging(["registry": "node1", "apply": "node1", managers.0: "node1", managers.1: "node2"]) {
      $1
    }
    return try await ConnectSandbox.run(
      launcher: { placed[$0].map(self.launcher) ?? [] },
      registryHost: "172.31.254.1"
    ) { sandbox in
      try await sandbox.apply(MonitorAndErrorTests.services)
      let first = try await sandbox.manager(
        managers.0,
        node: "node-1",
        host: "172.31.254.1",
        arguments: ["--dataplane", "kernel"]
      )
      let second = try await sandbox.manager(
        managers.1,
        node: "node-2",
        host: "172.31.254.2",
        arguments: ["--dataplane", "kernel"]
      )
      return try await body(sandbox, first, second)
    }
  }
}

extension TestNamespaces {
  /// One node: the registry and a manager with a data plane (named `manager`, apart from every
  /// other test's) in the namespace of `node`, the simple service applied, and an endpoint
  /// `nse-1` of `cidr` in the namespace of `endpoint`; a client `nsc-1` the test starts is
  /// placed in the namespace of `client`.
  func withOneNode<Result: Sendable>(
    manager name: String,
    cidr: String,
    _ body: (ConnectSandbox, ConnectSandbox.Manager) async throws -> Result
  ) async throws -> Result {
    let roles = ["registry": "node", "apply": "node", name: "node", "nse-1": "endpoint", "nsc-1": "client"]
    return try await ConnectSandbox.run(launcher: { roles[$0].map(self.launcher) ?? [] }) { sandbox in
      try await sandbox.apply(MonitorAndErrorTests.services)
      let manager = try await sandbox.manager(name, node: "node-1", arguments: ["--dataplane", "kernel"])
      _ = try await sandbox.endpoint("nse-1", manager: manager, services: ["simple"], cidr: cidr)
      return try await body(sandbox, manager)
    }
  }
}
