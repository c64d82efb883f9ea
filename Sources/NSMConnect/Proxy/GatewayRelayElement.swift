internal import Foundation
public import NSMAPI
public import NSMCore
public import NSMDataplane
public import NSMRelay

/// A gateway's part of a vWire's data plane: the gateway ends the VXLAN tunnel of the hop before
/// it and starts a new one to the hop after it, and its relay (``VXLANRelay``) splices the two,
/// so that only the gateways need addresses the other domain can reach.
///
/// On a Request it offers the next hop its own address on that side (and, toward another
/// gateway, its port) in place of the previous hop's; once the next hop has answered with its
/// side of the tunnel (its address, port and VNI), it takes the previous hop's offered VNI for
/// its own side when that pair is free (a manager offers a VNI free on its node), records the
/// splice and answers the previous hop with its own address and port on that side. A refresh
/// keeps both tunnels; Close removes the splice. Placed before ``GatewayRouteElement`` (it reads
/// the names as they came: `nse@OWN` comes in from outside).
public struct GatewayRelayElement: ConnectElement {
  public typealias Side = RelayEnd

  public let inside: Side
  public let outside: Side
  public let table: RelayTable
  /// The kernel relay, when the gateway has one (else its userspace relay reads ``table``). It
  /// keeps a vWire's VNI on both sides.
  public let kernel: KernelRelay?
  /// `--map-ip-file`: what the other domain's gateway is told for the outside address.
  public let addressMap: AddressMap?
  /// The mechanism each connection's next hop answered with (for refreshes and the Close).
  private let outgoing = PerConnection<Connection_Connection>()

  public init(
    inside: Side,
    outside: Side,
    table: RelayTable,
    kernel: KernelRelay? = nil,
    addressMap: AddressMap? = nil
  ) {
    self.inside = inside
    self.outside = outside
    self.table = table
    self.kernel = kernel
    self.addressMap = addressMap
  }

  func side(_ side: RelaySide) -> Side { side == .inside ? inside : outside }

  /// The address the peer on `side` is told: the outside one as mapped (NAT), the inside as is.
  func told(_ side: RelaySide) -> String {
    side == .inside ? inside.address : addressMap?.told(outside.address) ?? outside.address
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let id = request.connection.id
    let incomingSide: RelaySide = try Self.crossing(context) == .inward ? .outside : .inside
    let outgoingSide = incomingSide.other
    let offered = try Self.offer(in: request)
    guard let previousAddress = offered.parameters[Mechanisms.Key.srcIP],
      IPPrefix.parseAddress(previousAddress) != nil
    else {
      throw NSMError.invalidArgument("the VXLAN mechanism offered to the gateway names no src_ip address")
    }
    let previousPort = offered.parameters[Mechanisms.Key.srcPort].flatMap(Int.init) ?? side(incomingSide).port
    let offeredVNI = offered.parameters[Mechanisms.Key.vni].flatMap(UInt32.init)

    var forwarded = request
    if let held = outgoing.get(id)?.mechanism {
      forwarded.connection.mechanism = held
      forwarded.mechanismPreferences = [held]
    } else {
      var offer = Mechanisms.vxlan(sourceIP: told(outgoingSide))
      offer.parameters[Mechanisms.Key.srcPort] = String(side(outgoingSide).port)
      // The next hop's address is not known yet: the previous hop's VNI is offered on, or, for
      // the kernel relay, which keeps one VNI on both sides, one free with the previous hop.
      let vni =
        kernel == nil ? offeredVNI : (try? chooseVNI(offeredVNI, with: previousAddress, on: incomingSide, for: id))
      if let vni { offer.parameters[Mechanisms.Key.vni] = String(vni) }
      forwarded.connection.mechanism = Connection_Mechanism()
      forwarded.mechanismPreferences = [offer]
    }
    var answer = try await next.request(forwarded, context: context)
    do {
      let chosen = answer.mechanism
      guard chosen.type == Mechanisms.vxlan, let nextAddress = chosen.parameters[Mechanisms.Key.dstIP],
        IPPrefix.parseAddress(nextAddress) != nil,
        let nextVNI = chosen.parameters[Mechanisms.Key.vni].flatMap(UInt32.init)
      else {
        throw NSMError(.internal, "the next hop answered the gateway without a VXLAN tunnel: \(chosen.parameters)")
      }
      let nextLeg = RelayLeg(
        address: nextAddress,
        port: chosen.parameters[Mechanisms.Key.dstPort].flatMap(Int.init) ?? 4789,
        vni: nextVNI
      )
      let previousVNI: UInt32
      if kernel != nil {
        guard table.isFree(nextVNI, with: previousAddress, on: incomingSide, for: id) else {
          throw NSMError.unavailable(
            "the next hop answered VNI \(nextVNI), which \(previousAddress) already uses with this gateway; the kernel relay keeps a vWire's VNI on both sides"
          )
        }
        previousVNI = nextVNI
      } else {
        previousVNI = try chooseVNI(
          offeredVNI ?? table.splice(id)?.leg(incomingSide).vni,
          with: previousAddress,
          on: incomingSide,
          for: id
        )
      }
      let previousLeg = RelayLeg(address: previousAddress, port: previousPort, vni: previousVNI)
      let splice =
        incomingSide == .inside
        ? RelayTable.Splice(inside: previousLeg, outside: nextLeg)
        : RelayTable.Splice(inside: nextLeg, outside: previousLeg)
      guard table.set(id, splice) else {
        throw NSMError.unavailable("the gateway's tunnels for connection \(id) collide with another vWire's")
      }
      if let kernel {
        do {
          try await kernel.splice(id, inside: splice.inside, outside: splice.outside)
        } catch {
          table.remove(id)
          throw NSMError.unavailable("the gateway could not splice the vWire in the kernel: \(error)")
        }
      }
      var held = Connection_Connection()
      held.mechanism = chosen
      outgoing.set(id, held)
      var mine = Mechanisms.vxlan(sourceIP: previousAddress)
      if let port = offered.parameters[Mechanisms.Key.srcPort] { mine.parameters[Mechanisms.Key.srcPort] = port }
      mine.parameters[Mechanisms.Key.dstIP] = told(incomingSide)
      mine.parameters[Mechanisms.Key.dstPort] = String(side(incomingSide).port)
      mine.parameters[Mechanisms.Key.vni] = String(previousVNI)
      answer.mechanism = mine
      return answer
    } catch {
      context.logger.warning(
        "splicing the vWire failed; closing it",
        metadata: ["connection": "\(id)", "error": "\(error)"]
      )
      try? await next.close(answer, context: context)
      throw error
    }
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    do {
      try await next.close(connection, context: context)
    } catch {
      await forget(connection.id)
      throw error
    }
    await forget(connection.id)
  }

  private func forget(_ id: String) async {
    table.remove(id)
    outgoing.remove(id)
    await kernel?.unsplice(id)
  }

  /// The crossing the route element decided; the relay runs after it.
  static func crossing(_ context: ConnectContext) throws(NSMError) -> DomainCrossing {
    guard let crossing = context.crossing else {
      throw NSMError(.internal, "the gateway's relay runs before its route element decided the crossing")
    }
    return crossing
  }

  /// The VXLAN mechanism a Request offers the gateway: its current one on a refresh, else its
  /// first VXLAN preference.
  static func offer(in request: Networkservice_NetworkServiceRequest) throws(NSMError) -> Connection_Mechanism {
    if request.connection.mechanism.type == Mechanisms.vxlan { return request.connection.mechanism }
    guard let offer = request.mechanismPreferences.first(where: { $0.type == Mechanisms.vxlan }) else {
      throw .invalidArgument("a gateway relays VXLAN vWires only; the request offers no VXLAN mechanism")
    }
    return offer
  }

  /// `preferred` when that VNI with `peer` is free on `side`, else a free one.
  private func chooseVNI(
    _ preferred: UInt32?,
    with peer: String,
    on side: RelaySide,
    for id: String
  ) throws(NSMError) -> UInt32 {
    if let preferred, preferred > 0, preferred < 1 << 24, table.isFree(preferred, with: peer, on: side, for: id) {
      return preferred
    }
    for _ in 0..<64 {
      let candidate = UInt32.random(in: 1..<(1 << 24))
      if table.isFree(candidate, with: peer, on: side, for: id) { return candidate }
    }
    throw .unavailable("no free VNI toward \(peer)")
  }
}
