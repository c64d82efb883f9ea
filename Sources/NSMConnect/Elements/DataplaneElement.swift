internal import Logging
public import NSMAPI
internal import NSMCore
public import NSMDataplane

/// The manager's data plane (the forwarder's role upstream): once a Request is answered, the
/// vWire is made between the client's namespace and the endpoint's, and removed on Close.
/// A refresh changes nothing on the wire. A vWire that cannot be made fails the Request and
/// closes what the next hops set up, so nothing half-made stays.
///
/// Local vWires (both workloads on this node: a veth pair) for now; a connection to another
/// node's manager is left to VXLAN, which is not wired here yet.
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
    guard !wires.exists(id), let route = routes.route(of: id), !route.hop.viaManager else { return answer }
    do {
      let (client, endpoint) = try Self.ends(client: request.connection.mechanism, endpoint: route.mechanism, answer)
      try await wires.create(id, client: client, endpoint: endpoint)
      context.logger.debug("vWire up", metadata: ["connection": "\(id)", "client": "\(client.interface)"])
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

  /// Both ends from the two KERNEL mechanisms and the connection's IP context.
  static func ends(
    client: Connection_Mechanism,
    endpoint: Connection_Mechanism,
    _ connection: Connection_Connection
  ) throws(NSMError) -> (VWireEnd, VWireEnd) {
    guard client.type == Mechanisms.kernel, endpoint.type == Mechanisms.kernel else {
      throw .invalidArgument("a local vWire needs KERNEL on both sides (got \(client.type) and \(endpoint.type))")
    }
    func end(_ mechanism: Connection_Mechanism, side: String, addresses: [String], routes: [String]) throws(NSMError)
      -> VWireEnd
    {
      guard let url = mechanism.parameters[Mechanisms.Key.inodeURL], !url.isEmpty else {
        throw .invalidArgument("the \(side)'s KERNEL mechanism names no namespace (inodeURL)")
      }
      guard let interface = mechanism.parameters[Mechanisms.Key.interfaceName], !interface.isEmpty else {
        throw .invalidArgument("the \(side)'s KERNEL mechanism names no interface")
      }
      let namespace = try NetworkNamespace(inodeURL: url)
      guard namespace.exists else { throw .invalidArgument("the \(side)'s namespace \(url) does not exist") }
      return VWireEnd(namespace: namespace, interface: interface, addresses: addresses, routes: routes)
    }
    let ip = connection.context.ipContext
    return (
      try end(client, side: "client", addresses: ip.srcIpAddrs, routes: ip.srcRoutes.map(\.prefix)),
      try end(endpoint, side: "endpoint", addresses: ip.dstIpAddrs, routes: ip.dstRoutes.map(\.prefix))
    )
  }

  static func message(_ error: any Error) -> String {
    (error as? NSMError)?.message ?? "\(error)"
  }
}
