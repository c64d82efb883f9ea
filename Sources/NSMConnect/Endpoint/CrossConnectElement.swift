public import NSMAPI
internal import NSMCore
public import NSMDataplane

/// A middle box's data plane: once it has answered a Request and holds its own outgoing
/// connection, the interface of the incoming vWire and that of the outgoing one are joined
/// (``CrossConnects``), so the client's packets cross this endpoint's namespace on their way
/// to the next endpoint. Placed before ``PassthroughElement``, it sees both interface names.
public struct CrossConnectElement: ConnectElement {
  public let crossConnects: CrossConnects

  public init(crossConnects: CrossConnects) {
    self.crossConnects = crossConnects
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let answer = try await next.request(request, context: context)
    let id = request.connection.id
    if answer.mechanism.type == Mechanisms.kernel,
      let incoming = answer.mechanism.parameters[Mechanisms.Key.interfaceName], !incoming.isEmpty
    {
      crossConnects.join(
        id,
        incoming: incoming,
        outgoing: PassthroughElement.outgoingInterface(of: id),
        logger: context.logger
      )
    }
    return answer
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    await crossConnects.remove(connection.id)
    try await next.close(connection, context: context)
  }
}
