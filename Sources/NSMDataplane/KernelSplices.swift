internal import Foundation
internal import NSMCore
internal import Synchronization

/// A gateway's kernel relay (for gateways with CAP_NET_ADMIN): each spliced vWire is two VXLAN
/// links in the gateway's namespace, one per side (its own VNI, local address and peer), joined
/// as the two ports of a bridge, so the kernel moves its packets with no copy to userspace.
/// The guard admits each side's peer only (Linux would take a VNI's packets from anyone).
///
/// Linux allows one VXLAN link per VNI and UDP port in a namespace, and both sides usually use
/// port 4789: in this mode a VNI is unique across both sides. Each link carries the alias
/// `nsm/<owner>/<connection>`, so that a restarted gateway removes what its previous run left.
public final class KernelSplices: Sendable {
  public let links: any LinkControl
  public let owner: String
  public let tunnelGuard: (any TunnelGuard)?
  private let splices = Mutex<[String: (inside: Tunnel, outside: Tunnel)]>([:])

  public init(links: any LinkControl, owner: String, tunnelGuard: (any TunnelGuard)?) {
    self.links = links
    self.owner = owner
    self.tunnelGuard = tunnelGuard
  }

  /// Starts afresh: the guard's table replaced, links a previous run left deleted; the number
  /// of links removed.
  public func reset() async throws -> Int {
    try await tunnelGuard?.reset()
    var removed = 0
    for link in try await links.links(in: .current, aliasPrefix: "nsm/\(owner)/") {
      if (try? await links.delete(link.name, in: .current)) != nil { removed += 1 }
    }
    return removed
  }

  static func names(_ id: String) -> (inside: String, outside: String, bridge: String) {
    let hex = String(id.filter(\.isHexDigit).prefix(10))
    return ("nsmgi" + hex, "nsmgo" + hex, "nsmgb" + hex)
  }

  /// Makes (or, when its tunnels changed, remakes) the splice of connection `id`; on failure
  /// nothing of it is left.
  public func splice(_ id: String, inside: Tunnel, outside: Tunnel) async throws {
    if let existing = splices.withLock({ $0[id] }) {
      if existing.inside == inside && existing.outside == outside { return }
      await unsplice(id)
    }
    let (insideLink, outsideLink, bridge) = Self.names(id)
    // Two processes: the guard's change and one `ip -batch` for links, bridge and ports.
    try await tunnelGuard?.admit([inside, outside])
    do {
      try await links.bridgeTunnels(
        [(insideLink, inside), (outsideLink, outside)],
        bridge: bridge,
        alias: "nsm/\(owner)/\(id)",
        in: .current
      )
    } catch {
      for link in [insideLink, outsideLink, bridge] { try? await links.delete(link, in: .current) }
      try? await tunnelGuard?.revoke([inside, outside])
      throw error
    }
    splices.withLock { $0[id] = (inside, outside) }
  }

  /// Deletes the splice of connection `id`; nothing when there is none.
  public func unsplice(_ id: String) async {
    guard let tunnels = splices.withLock({ $0.removeValue(forKey: id) }) else { return }
    let (insideLink, outsideLink, bridge) = Self.names(id)
    for link in [insideLink, outsideLink, bridge] { try? await links.delete(link, in: .current) }
    try? await tunnelGuard?.revoke([tunnels.inside, tunnels.outside])
  }
}
