internal import Foundation
package import NSMCore
package import NSMRegistry

package struct BenchError: Error, CustomStringConvertible {
  package var description: String
  package init(_ description: String) { self.description = description }
}

package func format(_ value: Double, digits: Int) -> String {
  guard value.isFinite else { return "n/a" }
  return String(format: "%.\(digits)f", value)
}

/// The system's 1, 5 and 15 minute load averages, where /proc has them: other work on the
/// machine competes with the benchmark for its cores.
package func loadAverage() -> String? {
  guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
  return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Writes one line to standard error, prefixed with the tool's name.
package func writeProgress(_ tool: String, _ message: String) {
  FileHandle.standardError.write(Data("\(tool): \(message)\n".utf8))
}

/// Opens `count` clients to `address`, each its own `GRPCClient` and connection, for `body`.
package func withClients<Result: Sendable>(
  _ count: Int,
  address: ServiceAddress,
  opened: [RegistryClient] = [],
  _ body: ([RegistryClient]) async throws -> Result
) async throws -> Result {
  if opened.count == count { return try await body(opened) }
  return try await RegistryClient.with(address: address) { client in
    try await withClients(count, address: address, opened: opened + [client], body)
  }
}
