internal import Foundation
public import Logging
public import NSMCore
internal import Synchronization

#if canImport(Glibc)
  internal import Glibc
#endif

/// A middle box's wires (composition): for each connection it passes on, the interface its
/// manager made for the incoming vWire and the one made for its own outgoing vWire become the
/// two ports of one bridge in this process's namespace, so that packets cross the middle box
/// unchanged, in both directions, and pass nothing else.
///
/// The incoming interface appears only after the middle box has answered (its manager makes
/// the vWire then), so ``join(_:incoming:outgoing:)`` waits for both interfaces in the
/// background. Interfaces are looked up by name in this process's own namespace, which a
/// middle box never leaves.
public final class CrossConnects: Sendable {
  public let links: any LinkControl
  private let time: any TimeSource
  private let wait: Duration

  private struct Joined {
    /// The interface indexes that were joined: a vWire made again (its manager restarted)
    /// has new ones and is joined again.
    var ports: (Int32, Int32)?
    var task: Task<Void, Never>?
  }

  private let joined = Mutex<[String: Joined]>([:])

  /// `wait`: how long a join waits for the two interfaces to appear.
  public init(links: any LinkControl, time: any TimeSource = SystemTime(), wait: Duration = .seconds(10)) {
    self.links = links
    self.time = time
    self.wait = wait
  }

  /// The bridge of connection `id`: `nsmbr` and ten hex digits of the id (Linux allows 15
  /// characters).
  public static func bridge(of id: String) -> String { "nsmbr" + String(id.filter(\.isHexDigit).prefix(10)) }

  /// Joins `incoming` and `outgoing` once both exist (at once when they are joined already);
  /// returns without waiting. Calling it for every Request of a connection is cheap: a refresh
  /// finds the same interfaces joined.
  public func join(_ id: String, incoming: String, outgoing: String, logger: Logger) {
    let current = (Self.index(of: incoming), Self.index(of: outgoing))
    let start: Bool = joined.withLock { joined in
      var entry = joined[id] ?? Joined()
      if let ports = entry.ports, ports == current { return false }
      if entry.task != nil { return false }
      entry.task = Task { await self.joinWhenPresent(id, incoming: incoming, outgoing: outgoing, logger: logger) }
      joined[id] = entry
      return true
    }
    if start { logger.debug("joining the vWires", metadata: ["connection": "\(id)"]) }
  }

  private func joinWhenPresent(_ id: String, incoming: String, outgoing: String, logger: Logger) async {
    let deadline = time.now + wait
    var ports = (Self.index(of: incoming), Self.index(of: outgoing))
    while ports.0 == 0 || ports.1 == 0 {
      if Task.isCancelled { return }
      guard time.now < deadline else {
        logger.warning(
          "the vWires to join did not appear",
          metadata: ["connection": "\(id)", "incoming": "\(incoming)", "outgoing": "\(outgoing)"]
        )
        finish(id, ports: nil)
        return
      }
      try? await time.sleep(for: .milliseconds(10))
      ports = (Self.index(of: incoming), Self.index(of: outgoing))
    }
    let bridge = Self.bridge(of: id)
    do {
      try await links.addBridge(bridge, in: .current)
      try await links.attach(incoming, to: bridge, in: .current)
      try await links.attach(outgoing, to: bridge, in: .current)
      finish(id, ports: ports)
      logger.info(
        "vWires joined",
        metadata: ["connection": "\(id)", "bridge": "\(bridge)", "incoming": "\(incoming)", "outgoing": "\(outgoing)"]
      )
    } catch {
      logger.warning("joining the vWires failed", metadata: ["connection": "\(id)", "error": "\(error)"])
      finish(id, ports: nil)
    }
  }

  private func finish(_ id: String, ports: (Int32, Int32)?) {
    joined.withLock { joined in
      // Removed meanwhile (closed): nothing to record.
      guard joined[id] != nil else { return }
      joined[id] = Joined(ports: ports, task: nil)
    }
  }

  /// Forgets connection `id` and deletes its bridge (its ports go with their vWires).
  public func remove(_ id: String) async {
    guard let entry = joined.withLock({ $0.removeValue(forKey: id) }) else { return }
    entry.task?.cancel()
    _ = await entry.task?.value
    try? await links.delete(Self.bridge(of: id), in: .current)
  }

  /// The index of interface `name` in this process's namespace; 0 when there is none.
  static func index(of name: String) -> Int32 { Int32(bitPattern: if_nametoindex(name)) }
}
