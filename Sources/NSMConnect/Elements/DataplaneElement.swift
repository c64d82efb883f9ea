internal import Logging
public import NSMAPI
internal import NSMCore
public import NSMDataplane

/// The manager's data plane (the forwarder's role upstream): once a Request is answered, the
/// vWire is made between the client's namespace and the endpoint's, and removed on Close.
/// A refresh changes nothing on the wire. A vWire that cannot be made fails the Request and
/// closes what the next hops set up, so nothing half-made stays.
///
/// A local vWire (both workloads on this node) is a veth pair; one to another node is a VXLAN
/// link on each node, between the two managers' tunnel addresses, each moved into its
/// workload's namespace.
public struct DataplaneElement: ConnectElement {
  public let wires: LocalVWires
  public let routes: Routes

  public init(wires: LocalVWires, routes: Routes) {
    self.wires = wires
    self.routes = routes
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let answer = try await next.request(request, context: context)
    let id = request.connection.id
    guard !wires.exists(id), let route = routes.route(of: id) else { return answer }
    do {
      try await make(id, incoming: request.connection.mechanism, outgoing: route, answer, onGone: context.events?.close)
    } catch {
      context.logger.warning(
        "vWire failed; closing the connection",
        metadata: ["connection": "\(id)", "error": "\(error)"]
      )
      try? await next.close(answer, context: context)
      throw NSMError(.unavailable, "the vWire could not be made: \(Self.message(error))")
    }
    return answer
  }

  /// This node's part of the vWire: both ends (a local one), or the end toward its workload
  /// with a VXLAN tunnel to the other node (client side, or endpoint side).
  private func make(
    _ id: String,
    incoming: Connection_Mechanism,
    outgoing route: Route,
    _ answer: Connection_Connection,
    onGone: (@Sendable () async -> Void)?
  ) async throws {
    let ip = answer.context.ipContext
    func specs(_ routes: [Connectioncontext_Route]) -> [RouteSpec] {
      routes.map { RouteSpec($0.prefix, via: $0.nextHop.isEmpty ? nil : $0.nextHop) }
    }
    let clientAddresses = (ip.srcIpAddrs, specs(ip.srcRoutes))
    let endpointAddresses = (ip.dstIpAddrs, specs(ip.dstRoutes))
    switch (incoming.type, route.mechanism.type) {
    case (Mechanisms.kernel, Mechanisms.kernel) where !route.hop.viaManager:
      let client = try Self.end(incoming, side: "client", clientAddresses)
      let endpoint = try Self.end(route.mechanism, side: "endpoint", endpointAddresses)
      try await wires.create(id, client: client, endpoint: endpoint, onGone: onGone)
    case (Mechanisms.kernel, Mechanisms.vxlan):
      // Client side: the other node chose the VNI and its address.
      let client = try Self.end(incoming, side: "client", clientAddresses)
      let vxlan = route.mechanism.parameters
      try await wires.createTunnelEnd(
        id,
        end: client,
        tunnel: try Self.tunnel(vxlan, local: Mechanisms.Key.srcIP, remote: Mechanisms.Key.dstIP),
        onGone: onGone
      )
    case (Mechanisms.vxlan, Mechanisms.kernel):
      let endpoint = try Self.end(route.mechanism, side: "endpoint", endpointAddresses)
      try await wires.createTunnelEnd(
        id,
        end: endpoint,
        tunnel: try Self.tunnel(incoming.parameters, local: Mechanisms.Key.dstIP, remote: Mechanisms.Key.srcIP),
        onGone: onGone
      )
    default:
      throw NSMError.invalidArgument(
        "no vWire from \(incoming.type.isEmpty ? "no mechanism" : incoming.type) to \(route.mechanism.type)"
      )
    }
  }

  static func tunnel(_ parameters: [String: String], local: String, remote: String) throws(NSMError) -> Tunnel {
    guard let localIP = parameters[local], let remoteIP = parameters[remote], !localIP.isEmpty, !remoteIP.isEmpty,
      let vni = parameters[Mechanisms.Key.vni].flatMap(UInt32.init)
    else {
      throw .invalidArgument("the VXLAN mechanism lacks its addresses or VNI: \(parameters)")
    }
    guard IPPrefix.parseAddress(localIP) != nil, IPPrefix.parseAddress(remoteIP) != nil else {
      throw .invalidArgument("the VXLAN mechanism's addresses are not IP addresses: \(localIP), \(remoteIP)")
    }
    guard vni > 0, vni < 1 << 24 else { throw .invalidArgument("VNI \(vni) is outside 1…16777215") }
    let port = parameters[Mechanisms.Key.dstPort].flatMap(Int.init) ?? 4789
    guard (1...65535).contains(port) else { throw .invalidArgument("VXLAN port \(port) is outside 1…65535") }
    return Tunnel(vni: vni, local: localIP, remote: remoteIP, port: port)
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    do {
      try await wires.remove(connection.id)
    } catch {
      context.logger.warning(
        "removing a vWire failed",
        metadata: ["connection": "\(connection.id)", "error": "\(error)"]
      )
    }
    try await next.close(connection, context: context)
  }

  /// A workload's end from its KERNEL mechanism and its share of the IP context.
  static func end(_ mechanism: Connection_Mechanism, side: String, _ addressing: ([String], [RouteSpec]))
    throws(NSMError)
    -> VWireEnd
  {
    guard mechanism.type == Mechanisms.kernel else {
      throw .invalidArgument("the \(side)'s mechanism is \(mechanism.type), not KERNEL")
    }
    guard let url = mechanism.parameters[Mechanisms.Key.inodeURL], !url.isEmpty else {
      throw .invalidArgument("the \(side)'s KERNEL mechanism names no namespace (inodeURL)")
    }
    guard let interface = mechanism.parameters[Mechanisms.Key.interfaceName], !interface.isEmpty else {
      throw .invalidArgument("the \(side)'s KERNEL mechanism names no interface")
    }
    let namespace = try NetworkNamespace(inodeURL: url)
    guard namespace.exists else { throw .invalidArgument("the \(side)'s namespace \(url) does not exist") }
    return VWireEnd(namespace: namespace, interface: interface, addresses: addressing.0, routes: addressing.1)
  }

  static func message(_ error: any Error) -> String {
    (error as? NSMError)?.message ?? "\(error)"
  }
}
