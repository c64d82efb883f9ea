public import NSMAPI
internal import NSMCore

/// Upstream's `updatepath`: moves the connection onto this hop's path segment (its own
/// connection id) and puts the answer back to the caller's view.
public struct UpdatePathElement: ConnectElement {
  public let name: String

  public init(name: String) {
    self.name = name
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    var request = request
    let index = try PathUpdate.enter(&request.connection, name: name)
    var answer = try await next.request(request, context: context)
    PathUpdate.restore(&answer, index: index)
    return answer
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    var connection = connection
    _ = try PathUpdate.enter(&connection, name: name)
    try await next.close(connection, context: context)
  }
}

/// Upstream's `trimpath`: the last hop drops what a previous route left behind it.
public struct TrimPathElement: ConnectElement {
  public init() {}

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    var request = request
    PathUpdate.trim(&request.connection)
    return try await next.request(request, context: context)
  }
}
