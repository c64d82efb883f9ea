public import NSMCore
internal import Synchronization

/// The two sides of a gateway: its own domain's managers (inside) and the other domain's
/// gateway (outside).
public enum RelaySide: Sendable, Hashable, CustomStringConvertible {
  case inside
  case outside

  public var other: RelaySide { self == .inside ? .outside : .inside }
  public var description: String { self == .inside ? "inside" : "outside" }
}

/// Which VXLAN packets a gateway relays, and where: a packet that arrives on one side with a VNI
/// of a splice, from that splice's peer on that side, leaves on the other side toward the other
/// peer with the other side's VNI. Anything else (an unknown VNI, a known VNI from another
/// address, not VXLAN at all) is dropped and counted. A (peer address, VNI) pair is unique per
/// side: no two vWires share a tunnel, while two peers (two managers of a domain) may each use
/// the same VNI toward the gateway.
public final class RelayTable: Sendable {
  public struct Counters: Sendable, Equatable {
    public var relayed = 0
    public var unknownVNI = 0
    public var wrongSource = 0
    public var notVXLAN = 0

    public init(relayed: Int = 0, unknownVNI: Int = 0, wrongSource: Int = 0, notVXLAN: Int = 0) {
      self.relayed = relayed
      self.unknownVNI = unknownVNI
      self.wrongSource = wrongSource
      self.notVXLAN = notVXLAN
    }
  }

  public struct Splice: Sendable, Hashable {
    public var inside: RelayLeg
    public var outside: RelayLeg

    public init(inside: RelayLeg, outside: RelayLeg) {
      self.inside = inside
      self.outside = outside
    }

    public func leg(_ side: RelaySide) -> RelayLeg { side == .inside ? inside : outside }
  }

  private struct State {
    var splices: [String: Splice] = [:]
    /// (side, VNI, peer address) → splice id.
    var byVNI: [RelaySide: [UInt32: [String: String]]] = [.inside: [:], .outside: [:]]
    var counters = Counters()
  }

  private let state = Mutex(State())

  public init() {}

  private func holders(of vni: UInt32, with peer: String, on side: RelaySide, in state: State) -> [String] {
    state.byVNI[side]?[vni]?[peer].map { [$0] } ?? []
  }

  /// Adds or replaces splice `id`; false (and nothing changed) when a side's peer and VNI are
  /// another splice's.
  @discardableResult
  public func set(_ id: String, _ splice: Splice) -> Bool {
    state.withLock { state in
      for side in [RelaySide.inside, .outside] {
        let leg = splice.leg(side)
        if holders(of: leg.vni, with: leg.address, on: side, in: state).contains(where: { $0 != id }) { return false }
      }
      if let old = state.splices[id] { Self.unindex(old, in: &state) }
      state.splices[id] = splice
      for side in [RelaySide.inside, .outside] {
        let leg = splice.leg(side)
        state.byVNI[side, default: [:]][leg.vni, default: [:]][leg.address] = id
      }
      return true
    }
  }

  public func remove(_ id: String) {
    state.withLock { state in
      guard let old = state.splices.removeValue(forKey: id) else { return }
      Self.unindex(old, in: &state)
    }
  }

  private static func unindex(_ splice: Splice, in state: inout State) {
    for side in [RelaySide.inside, .outside] {
      let leg = splice.leg(side)
      state.byVNI[side]?[leg.vni]?[leg.address] = nil
      if state.byVNI[side]?[leg.vni]?.isEmpty == true { state.byVNI[side]?[leg.vni] = nil }
    }
  }

  public func splice(_ id: String) -> Splice? { state.withLock { $0.splices[id] } }

  /// Whether `vni` with `peer` is free on `side` (or held by splice `id` itself).
  public func isFree(_ vni: UInt32, with peer: String, on side: RelaySide, for id: String? = nil) -> Bool {
    state.withLock { state in
      holders(of: vni, with: peer, on: side, in: state).allSatisfy { $0 == id }
    }
  }

  public var count: Int { state.withLock { $0.splices.count } }
  public var counters: Counters { state.withLock { $0.counters } }

  /// Where a packet with `vni` from `source` arriving on `side` goes: the other side's leg (its
  /// peer, and the VNI to write); nil (and counted) when it is not relayed.
  /// `packets`: how many packets of that vWire arrived together (coalesced by the kernel).
  public func route(vni: UInt32, from source: String, arrivingOn side: RelaySide, packets: Int = 1) -> RelayLeg? {
    state.withLock { state in
      guard let peers = state.byVNI[side]?[vni] else {
        state.counters.unknownVNI += packets
        return nil
      }
      guard let id = peers[source], let splice = state.splices[id] else {
        state.counters.wrongSource += packets
        return nil
      }
      state.counters.relayed += packets
      return splice.leg(side.other)
    }
  }

  /// A packet that is not VXLAN (too short, or without the I flag).
  public func countNotVXLAN(_ packets: Int = 1) {
    state.withLock { $0.counters.notVXLAN += packets }
  }
}
