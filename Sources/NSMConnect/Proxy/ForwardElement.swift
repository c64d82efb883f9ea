public import NSMAPI
internal import NSMCore

/// A gateway's client half: sends the Request on to the hop ``GatewayRouteElement`` chose with
/// the mechanism preferences as they came, and remembers the route for refreshes, the Close
/// and the monitor. (The two managers negotiate the vWire's mechanism end to end through the
/// gateways.)
public struct ForwardElement: ConnectElement {
  public let caller: NextHopCaller
  public let routes: Routes

  public init(caller: NextHopCaller, routes: Routes) {
    self.caller = caller
    self.routes = routes
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    guard let hop = context.nextHop else {
      throw NSMError(.internal, "no next hop was chosen for connection \(request.connection.id)")
    }
    let answer = try await hop.namedWhenUnreachable {
      try await caller.request(request, at: hop.address, deadline: context.deadline)
    }
    routes.set(request.connection.id, Route(hop: hop, mechanism: answer.mechanism))
    return answer
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    if let route = routes.remove(connection.id) {
      var outgoing = connection
      outgoing.mechanism = route.mechanism
      outgoing.networkServiceEndpointName = route.hop.endpointName
      try await route.hop.namedWhenUnreachable {
        try await caller.close(outgoing, at: route.hop.address, deadline: context.deadline)
      }
    }
    try await next.close(connection, context: context)
  }
}
