internal import Foundation
internal import NSMCore

/// Keeps packets out of this node's VXLAN vWires that do not come from the peer negotiated for
/// them. Linux delivers a VXLAN packet to the link of its VNI and UDP port whatever its outer
/// source, so without a guard any host that can reach the tunnel address and guesses a VNI
/// could put frames into a workload's interface.
public protocol TunnelGuard: Sendable {
  /// Starts afresh: forgets what a previous run admitted, guards nothing yet.
  func reset() async throws
  /// From now on packets to each tunnel's VNI and port are accepted only from its remote
  /// address (all at once: one change of the kernel's tables).
  func admit(_ tunnels: [Tunnel]) async throws
  /// Forgets the tunnels (their VNIs may be reused with other peers).
  func revoke(_ tunnels: [Tunnel]) async throws
  /// Packets dropped so far.
  func refused() async throws -> Int
}

extension TunnelGuard {
  public func admit(_ tunnel: Tunnel) async throws { try await admit([tunnel]) }
  public func revoke(_ tunnel: Tunnel) async throws { try await revoke([tunnel]) }
}

/// ``TunnelGuard`` with nftables, in this process's namespace: one table of this manager's
/// (`inet nsm_<name>`) holding the guarded (port, VNI) pairs and the admitted (source, port,
/// VNI) triples, and one rule per address family that drops and counts a packet whose port and
/// VNI are guarded but whose source is not the admitted one. Packets to ports or VNIs this
/// manager does not use pass untouched, so other VXLAN users of the host (an overlay network
/// on 4789, say) are not affected. Both lookups are sets: the cost per packet does not grow
/// with the number of vWires.
public struct NFTables: TunnelGuard {
  public let table: String
  public var nft: String

  /// `owner`: the manager's name; the table is `nsm_` and the name with anything but letters,
  /// digits, `-` and `_` replaced.
  public init(owner: String, nft: String = "/usr/sbin/nft") {
    table = NFT.tableName("nsm_", owner: owner)
    self.nft = nft
  }

  public func reset() async throws {
    // Creating the table first makes the delete succeed on a first run.
    try await run(
      """
      table inet \(table) {}
      delete table inet \(table)
      table inet \(table) {
        set vnis { typeof udp dport . @th,96,24; }
        set peers4 { typeof ip saddr . udp dport . @th,96,24; }
        set peers6 { typeof ip6 saddr . udp dport . @th,96,24; }
        counter refused {}
        chain input {
          type filter hook input priority filter - 10; policy accept;
          meta nfproto ipv4 udp dport . @th,96,24 @vnis ip saddr . udp dport . @th,96,24 != @peers4 counter name refused drop
          meta nfproto ipv6 udp dport . @th,96,24 @vnis ip6 saddr . udp dport . @th,96,24 != @peers6 counter name refused drop
        }
      }

      """
    )
  }

  public func admit(_ tunnels: [Tunnel]) async throws {
    try await run(try tunnels.map { try elements("add", $0) }.joined())
  }

  public func revoke(_ tunnels: [Tunnel]) async throws {
    try await run(try tunnels.map { try elements("delete", $0) }.joined())
  }

  public func refused() async throws -> Int {
    let listing = try await ChildProcess.run([nft, "list", "counter", "inet", table, "refused"])
    guard listing.status == 0 else { throw NFT.failure(listing) }
    let fields = listing.stdout.split(whereSeparator: \.isWhitespace)
    guard let index = fields.firstIndex(of: "packets"), index + 1 < fields.count, let count = Int(fields[index + 1])
    else {
      throw NSMError(.internal, "nft: cannot read the refused counter: \(listing.stdout)")
    }
    return count
  }

  private func elements(_ verb: String, _ tunnel: Tunnel) throws(NSMError) -> String {
    // The address goes into a script: only an address may.
    guard IPPrefix.parseAddress(tunnel.remote) != nil else {
      throw .invalidArgument("the tunnel's remote '\(tunnel.remote)' is not an IP address")
    }
    let peers = tunnel.remote.contains(":") ? "peers6" : "peers4"
    return """
      \(verb) element inet \(table) vnis { \(tunnel.port) . \(tunnel.vni) }
      \(verb) element inet \(table) \(peers) { \(tunnel.remote) . \(tunnel.port) . \(tunnel.vni) }

      """
  }

  private func run(_ script: String) async throws {
    try await NFT.run(nft, script)
  }
}
