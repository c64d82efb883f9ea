internal import ArgumentParser
internal import Foundation
internal import NSMCore
internal import NSMDataplane
internal import NSMTransport

/// Parsers shared by `nsm manager`, `nsm endpoint` and `nsm client`.
enum ConnectSettings {
  /// Where upstream's workloads find their manager.
  static let defaultManagerSocket = "unix:///var/lib/networkservicemesh/nsm.io.sock"

  /// `--dataplane kernel|none` (NSM_DATAPLANE): as root on Linux a process makes what its
  /// vWires need unless told otherwise.
  static func dataplane(_ text: String?) throws -> (any LinkControl)? {
    switch text ?? (getuid() == 0 ? "kernel" : "none") {
    case "none": return nil
    case "kernel": return IPRoute2()
    case let other:
      throw ValidationError("--dataplane / NSM_DATAPLANE: '\(other)' is neither kernel nor none")
    }
  }

  /// `--public-url` (NSM_PUBLIC_URL): an address other domains can dial.
  static func publicURL(_ text: String) throws -> String {
    try parseSetting(text, flag: "public-url", env: "NSM_PUBLIC_URL") {
      let address = try ServiceAddress(parsing: $0)
      guard case .tcp(let host, let port) = address, !host.isEmpty, host != "0.0.0.0", port > 0 else {
        throw NSMError.invalidArgument("'\($0)' is not an address other domains can dial (tcp://host:port)")
      }
      return address.description
    }
  }

  /// `k=v,k2=v2` (upstream's NSM_LABELS form).
  static func labels(_ text: String, flag: String, env: String) throws -> [String: String] {
    try parseSetting(text, flag: flag, env: env) { text throws(NSMError) in
      var labels: [String: String] = [:]
      for pair in text.split(separator: ",") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].trimmingCharacters(in: .whitespaces).isEmpty else {
          throw .invalidArgument("'\(pair)' is not key=value")
        }
        labels[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
      }
      try LabelRules.validate(labels, field: "labels")
      return labels
    }
  }

  static func address(_ text: String, flag: String, env: String) throws -> ServiceAddress {
    try parseSetting(text, flag: flag, env: env) { try ServiceAddress(parsing: $0) }
  }

  static func duration(_ text: String, flag: String, env: String) throws -> Duration {
    try parseSetting(text, flag: flag, env: env) { text throws(NSMError) in
      let duration = try GoDuration.parse(text)
      guard duration > .zero else { throw .invalidArgument("must be positive") }
      return duration
    }
  }

  /// A unix socket's folder must exist before the server binds it.
  static func prepare(_ address: ServiceAddress) throws {
    guard case .unix(let path) = address else { return }
    let folder = (path as NSString).deletingLastPathComponent
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw ValidationError("cannot create the folder of \(address): \(error.localizedDescription)")
    }
  }
}
