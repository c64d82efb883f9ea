internal import Foundation
public import NSMCore
internal import Synchronization

/// A gateway's kernel relay (for gateways with CAP_NET_ADMIN): the kernel forwards each
/// vWire's VXLAN packets from one side of the gateway to the other, rewriting only the outer
/// addresses and port on the way, as a router with stateless NAT would. Nothing is
/// decapsulated, so a 64 KB GSO super-packet crosses the gateway whole, at the cost of a
/// forwarded packet.
///
/// Everything lives in one nftables table of this gateway's (`inet nsmr_<owner>`), made afresh
/// by ``reset()``:
/// - in prerouting (before connection tracking, which relayed packets skip), a packet to one
///   of the relay's two ends (its address and port on each side) is looked up by (end, source,
///   port, VNI); a hit marks it with its splice's direction and rewrites its destination
///   address and port to the peer on the other side; a miss (a VNI not negotiated, the right
///   VNI from another source, not VXLAN at all) is counted and dropped;
/// - in postrouting, a marked packet's source becomes the relay's own address on the side it
///   leaves by, so the peer sees it come from the gateway.
///
/// All lookups are maps, so the cost per packet does not grow with the number of vWires. The
/// VNI is the same on both sides of a splice (rewriting it would leave a stale outer UDP
/// checksum, which IPv6 VXLAN carries), and both sides are of one address family.
public final class KernelRelay: Sendable {
  /// One of the relay's own ends: its address and UDP port on a side.
  public typealias End = RelayEnd

  /// The peer of one side of a splice: its address and port, and the vWire's VNI.
  public typealias Leg = RelayLeg

  /// What ``reset()`` found and changed.
  public struct Reset: Sendable, Equatable {
    /// A previous run's table (and its splices) was removed.
    public var replacedTable: Bool
    /// The sysctls it turned on (forwarding of the relay's address family).
    public var enabled: [String]

    public init(replacedTable: Bool, enabled: [String]) {
      self.replacedTable = replacedTable
      self.enabled = enabled
    }
  }

  public let table: String
  public let inside: End
  public let outside: End
  public let nft: String
  /// Where the forwarding sysctls are (tests point it elsewhere).
  public let sysctl: String

  private struct Splice {
    var inside: Leg
    var outside: Leg
    /// The marks of its two directions: from the inside, from the outside.
    var marks: (UInt32, UInt32)
  }

  private struct State {
    var splices: [String: Splice] = [:]
    var freeMarks: [UInt32] = []
    var nextMark: UInt32 = 1
  }

  private let state = Mutex(State())
  /// A relayed packet's mark: this prefix and a 24-bit number, two per splice.
  static let markPrefix: UInt32 = 0x4e00_0000

  /// `owner`: the gateway's name; the table is `nsmr_` and the name with anything but letters,
  /// digits, `-` and `_` replaced.
  public init(
    owner: String,
    inside: End,
    outside: End,
    nft: String = "/usr/sbin/nft",
    sysctl: String = "/proc/sys"
  ) throws(NSMError) {
    table = NFT.tableName("nsmr_", owner: owner)
    for end in [inside, outside] {
      guard IPPrefix.parseAddress(end.address) != nil, (1...65535).contains(end.port) else {
        throw .invalidArgument("the kernel relay's end '\(end.address):\(end.port)' is not an IP address and port")
      }
    }
    guard Self.isIPv6(inside.address) == Self.isIPv6(outside.address) else {
      throw .invalidArgument(
        "the kernel relay rewrites addresses, not families: its inside (\(inside.address)) and outside (\(outside.address)) must be of one address family"
      )
    }
    self.inside = inside
    self.outside = outside
    self.nft = nft
    self.sysctl = sysctl
  }

  static func isIPv6(_ address: String) -> Bool { address.contains(":") }

  private var family: (ip: String, suffix: String) { Self.isIPv6(inside.address) ? ("ip6", "6") : ("ip", "4") }

  /// Starts afresh: forwarding turned on for the relay's address family, the table made anew
  /// (a previous run's splices are gone with the old one). Refuses when another gateway's
  /// kernel relay runs in this namespace: the two would read each other's marks.
  public func reset() async throws -> Reset {
    let listing = try await ChildProcess.run([nft, "list", "tables", "inet"])
    guard listing.status == 0 else { throw NFT.failure(listing) }
    let tables = listing.stdout.split(separator: "\n").compactMap { line -> String? in
      let fields = line.split(separator: " ")
      return fields.count == 3 && fields[0] == "table" ? String(fields[2]) : nil
    }
    if let other = tables.first(where: { $0.hasPrefix("nsmr_") && $0 != table }) {
      throw NSMError(
        .failedPrecondition,
        "another gateway's kernel relay (nftables table inet \(other)) runs in this network namespace; one namespace holds one (delete that table if its gateway is gone)"
      )
    }
    let enabled = try enableForwarding()
    let (ip, suffix) = family
    try await run(
      """
      table inet \(table) {}
      delete table inet \(table)
      table inet \(table) {
        set ends { typeof \(ip) daddr . udp dport; elements = { \(inside.address) . \(inside.port), \(outside.address) . \(outside.port) }; }
        map legs { typeof \(ip) daddr . \(ip) saddr . udp dport . @th,96,24 : meta mark; }
        map to { typeof meta mark : \(ip) daddr; }
        map from { typeof meta mark : \(ip) saddr; }
        map port { typeof meta mark : udp dport; }
        counter relayed {}
        counter refused {}
        chain prerouting {
          type filter hook prerouting priority raw - 10; policy accept;
          meta nfproto ipv\(suffix) \(ip) daddr . udp dport @ends jump arrived
        }
        chain arrived {
          meta mark set \(ip) daddr . \(ip) saddr . udp dport . @th,96,24 map @legs \(ip) daddr set meta mark map @to udp dport set meta mark map @port notrack counter name relayed accept
          counter name refused drop
        }
        chain postrouting {
          type filter hook postrouting priority raw - 10; policy accept;
          meta nfproto ipv\(suffix) meta mark & 0xff000000 == \(Self.markPrefix) \(ip) saddr set meta mark map @from
        }
      }

      """
    )
    state.withLock { $0 = State() }
    return Reset(replacedTable: tables.contains(table), enabled: enabled)
  }

  /// Turns on forwarding for the relay's family where it is off; the sysctls it changed.
  private func enableForwarding() throws -> [String] {
    let key = Self.isIPv6(inside.address) ? "net/ipv6/conf/all/forwarding" : "net/ipv4/ip_forward"
    let path = sysctl + "/" + key
    guard let current = FileManager.default.contents(atPath: path) else {
      throw NSMError(.failedPrecondition, "the kernel relay cannot read \(path)")
    }
    if String(decoding: current, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "1" { return [] }
    do {
      try Data("1\n".utf8).write(to: URL(fileURLWithPath: path))
    } catch {
      throw NSMError(.failedPrecondition, "the kernel relay needs forwarding on and cannot turn on \(path): \(error)")
    }
    return [key.replacingOccurrences(of: "/", with: ".")]
  }

  /// Makes (or, when its legs changed, remakes) the splice of connection `id`, at once: the
  /// old entries go and the new ones come in one nftables transaction.
  public func splice(_ id: String, inside insideLeg: Leg, outside outsideLeg: Leg) async throws {
    try check(insideLeg, outsideLeg)
    let change = try state.withLock { state throws(NSMError) -> (script: String, marks: (UInt32, UInt32))? in
      let old = state.splices[id]
      if let old, old.inside == insideLeg, old.outside == outsideLeg { return nil }
      let marks: (UInt32, UInt32)
      if let old { marks = old.marks } else { marks = try Self.allocate(&state) }
      let script =
        (old.map { removal(of: $0) } ?? "")
        + addition(of: Splice(inside: insideLeg, outside: outsideLeg, marks: marks))
      return (script, marks)
    }
    guard let (script, marks) = change else { return }
    do {
      try await run(script)
    } catch {
      // The transaction failed whole: whatever was there before still is.
      state.withLock { state in
        if state.splices[id] == nil { Self.release(marks, in: &state) }
      }
      throw error
    }
    state.withLock { $0.splices[id] = Splice(inside: insideLeg, outside: outsideLeg, marks: marks) }
  }

  /// Removes the splice of connection `id`; nothing when there is none.
  public func unsplice(_ id: String) async {
    guard let old = state.withLock({ $0.splices.removeValue(forKey: id) }) else { return }
    // A mark whose entries could not be deleted is not given out again.
    guard (try? await run(removal(of: old))) != nil else { return }
    state.withLock { Self.release(old.marks, in: &$0) }
  }

  private func check(_ insideLeg: Leg, _ outsideLeg: Leg) throws(NSMError) {
    for leg in [insideLeg, outsideLeg] {
      // The addresses go into a script: only an address may.
      guard IPPrefix.parseAddress(leg.address) != nil, Self.isIPv6(leg.address) == Self.isIPv6(inside.address) else {
        throw .invalidArgument(
          "the kernel relay splices \(family.ip == "ip" ? "IPv4" : "IPv6") tunnels only; '\(leg.address)' is not one"
        )
      }
      guard (1...65535).contains(leg.port), leg.vni > 0, leg.vni < 1 << 24 else {
        throw .invalidArgument("a tunnel of port \(leg.port) and VNI \(leg.vni) cannot be spliced")
      }
    }
    guard insideLeg.vni == outsideLeg.vni else {
      throw .invalidArgument(
        "the kernel relay keeps a vWire's VNI on both sides; the inside has \(insideLeg.vni), the outside \(outsideLeg.vni)"
      )
    }
  }

  /// Both directions: what arrives from one side's peer leaves toward the other side's peer.
  private func directions(of splice: Splice) -> [(mark: UInt32, end: End, from: Leg, exit: End, to: Leg)] {
    [
      (splice.marks.0, inside, splice.inside, outside, splice.outside),
      (splice.marks.1, outside, splice.outside, inside, splice.inside),
    ]
  }

  private func addition(of splice: Splice) -> String {
    directions(of: splice).map { d in
      """
      add element inet \(table) legs { \(d.end.address) . \(d.from.address) . \(d.end.port) . \(d.from.vni) : \(d.mark) }
      add element inet \(table) to { \(d.mark) : \(d.to.address) }
      add element inet \(table) port { \(d.mark) : \(d.to.port) }
      add element inet \(table) from { \(d.mark) : \(d.exit.address) }

      """
    }.joined()
  }

  private func removal(of splice: Splice) -> String {
    directions(of: splice).map { d in
      """
      delete element inet \(table) legs { \(d.end.address) . \(d.from.address) . \(d.end.port) . \(d.from.vni) }
      delete element inet \(table) to { \(d.mark) }
      delete element inet \(table) port { \(d.mark) }
      delete element inet \(table) from { \(d.mark) }

      """
    }.joined()
  }

  private static func allocate(_ state: inout State) throws(NSMError) -> (UInt32, UInt32) {
    func one() throws(NSMError) -> UInt32 {
      if let mark = state.freeMarks.popLast() { return mark }
      guard state.nextMark < 1 << 24 else { throw .unavailable("the kernel relay holds as many vWires as it can") }
      defer { state.nextMark += 1 }
      return markPrefix | state.nextMark
    }
    return (try one(), try one())
  }

  private static func release(_ marks: (UInt32, UInt32), in state: inout State) {
    state.freeMarks.append(contentsOf: [marks.1, marks.0])
  }

  private func run(_ script: String) async throws {
    try await NFT.run(nft, script)
  }
}
