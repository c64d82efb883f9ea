internal import Foundation
public import Logging
public import NSMCore
internal import Synchronization
internal import Yams

/// `--map-ip-file` (upstream's NSM_MAP_IP_FILE_PATH): which address another domain is told for
/// an address of this one, where NAT stands between them. The file is upstream's: a YAML map of
/// `internal: external` addresses (cmd-map-ip-k8s writes node and pod addresses there).
///
/// The file is read again when its modification time changes, as upstream watches it; a file
/// that no longer parses keeps the last good map and is logged once per change.
public final class AddressMap: Sendable {
  public let path: String
  private let logger: Logger
  private let state: Mutex<State>

  private struct State {
    var stamp: Date?
    var map: [String: String]
  }

  /// Reads `path` now; a missing or malformed file is INVALID_ARGUMENT naming it, so a gateway
  /// never starts on a map it cannot read.
  public init(path: String, logger: Logger) throws(NSMError) {
    self.path = path
    self.logger = logger
    let (stamp, map) = try Self.read(path)
    state = Mutex(State(stamp: stamp, map: map))
  }

  /// What other domains are told for `address`: its mapped address, or nil when the map has
  /// none (the address is then told as it is).
  public func external(for address: String) -> String? {
    guard let key = Self.canonical(address) else { return nil }
    return current()[key]
  }

  /// `address` mapped when the map has it, else unchanged.
  public func told(_ address: String) -> String { external(for: address) ?? address }

  public var count: Int { current().count }

  private func current() -> [String: String] {
    let stamp = Self.modificationDate(path)
    if let map = state.withLock({ $0.stamp == stamp ? $0.map : nil }) { return map }
    // Read outside the lock; two readers racing on a change both read the same file.
    let result: Result<[String: String], NSMError>
    do throws(NSMError) {
      result = .success(try Self.read(path).1)
    } catch {
      result = .failure(error)
    }
    return state.withLock { state in
      state.stamp = stamp
      switch result {
      case .success(let map):
        state.map = map
        logger.info("address map reloaded", metadata: ["file": "\(path)", "entries": "\(map.count)"])
      case .failure(let error):
        logger.warning(
          "address map not reloaded; the last good one stays",
          metadata: ["file": "\(path)", "error": "\(error.message)"]
        )
      }
      return state.map
    }
  }

  private static func modificationDate(_ path: String) -> Date? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
  }

  private static func read(_ path: String) throws(NSMError) -> (Date?, [String: String]) {
    let stamp = modificationDate(path)
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw .invalidArgument("cannot read the address map \(path)")
    }
    return (stamp, try parse(text, file: path))
  }

  /// The map in `text`: keys and values are IPv4 or IPv6 addresses, compared in their canonical
  /// spelling. An empty file is an empty map.
  public static func parse(_ text: String, file: String) throws(NSMError) -> [String: String] {
    let node: Node?
    do {
      node = try Yams.compose(yaml: text)
    } catch {
      throw .invalidArgument("address map \(file) is not YAML: \(error)")
    }
    guard let node else { return [:] }
    guard let mapping = node.mapping else {
      throw .invalidArgument("address map \(file) must be a map of 'internal: external' addresses")
    }
    var map: [String: String] = [:]
    for (key, value) in mapping {
      guard let internalText = key.scalar?.string, let externalText = value.scalar?.string else {
        throw .invalidArgument("address map \(file): every entry must be 'internal: external'")
      }
      guard let internalAddress = canonical(internalText) else {
        throw .invalidArgument("address map \(file): '\(internalText)' is not an IP address")
      }
      guard let externalAddress = canonical(externalText) else {
        throw .invalidArgument("address map \(file): '\(externalText)' (for \(internalText)) is not an IP address")
      }
      map[internalAddress] = externalAddress
    }
    return map
  }

  /// One spelling per address (IPv6 has many), nil for what is not an address.
  static func canonical(_ text: String) -> String? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    guard let (value, isIPv6) = IPPrefix.parseAddress(trimmed) else { return nil }
    return IPPrefix.format(value, isIPv6: isIPv6)
  }
}
