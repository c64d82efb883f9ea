internal import Foundation
internal import NSMCore

/// What this module's nftables users (a manager's ``NFTables`` guard, a gateway's
/// ``KernelRelay``) share: a table name from the owner's name, and scripts run with
/// `nft -f -`, each one transaction.
enum NFT {
  /// `prefix` and `owner` with anything but letters, digits, `-` and `_` replaced.
  static func tableName(_ prefix: String, owner: String) -> String {
    prefix + String(owner.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
  }

  static func run(_ nft: String, _ script: String) async throws {
    let result = try await ChildProcess.run([nft, "-f", "-"], input: script)
    guard result.status == 0 else { throw failure(result) }
  }

  static func failure(_ result: ChildProcess.Result) -> NSMError {
    NSMError(.internal, "nft: \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
  }
}
