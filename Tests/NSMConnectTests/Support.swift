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
