internal import Logging
public import NSMAPI
internal import Synchronization

/// Upstream's `begin`: serializes every event of one connection (a refresh never races a
/// Close or an expiry), remembers what this hop established, and lets later elements start a
/// Close of their own (``ConnectionEvents``).
///
/// A Request in state RESELECT_REQUESTED first closes what the connection had downstream, then
/// selects anew: the client's heal after its endpoint died.
public struct BeginElement: ConnectElement {
  private let serializer = KeyedSerializer()
  private let established = Established()
  /// How long a Close this hop starts on its own (expiry) may take.
  public var closeTimeout: Duration = .seconds(15)

  public init() {}

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let id = request.connection.id
    let events = self.events(id: id, logger: context.logger, next: next)
    return try await serializer.run(id) {
      var request = request
      var context = context
      context.events = events
      if request.connection.state == .reselectRequested {
        if let old = established.remove(id) {
          do {
            var closing = context
            closing.isReselecting = true
            try await next.close(old, context: closing)
          } catch {
            // The old endpoint is usually gone: that is why the client reselects.
            context.logger.debug(
              "closing the connection's old route before reselecting failed",
              metadata: ["connection": "\(id)", "error": "\(error)"]
            )
          }
        }
        request.connection.networkServiceEndpointName = ""
        // Handled here: what follows is a new selection, which the next hops treat as such.
        request.connection.state = .up
      }
      let answer = try await next.request(request, context: context)
      established.set(id, answer)
      return answer
    }
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    let id = connection.id
    try await serializer.run(id) {
      var connection = connection
      if let known = established.remove(id) {
        // The Close may come with less than this hop knows (a client that lost its state).
        if connection.networkServiceEndpointName.isEmpty {
          connection.networkServiceEndpointName = known.networkServiceEndpointName
        }
      }
      try await next.close(connection, context: context)
    }
  }

  /// Connections this hop holds now.
  public var count: Int { established.count }

  private func events<Next: ConnectHandler>(id: String, logger: Logger, next: Next) -> ConnectionEvents {
    ConnectionEvents { [serializer, established, closeTimeout] in
      do {
        try await serializer.run(id) {
          guard let connection = established.remove(id) else { return }
          var context = ConnectContext(logger: logger, deadline: .now + closeTimeout)
          context.events = nil
          try await next.close(connection, context: context)
        }
      } catch {
        logger.warning("closing a connection failed", metadata: ["connection": "\(id)", "error": "\(error)"])
      }
    }
  }
}

/// The connections a hop established, as it answered them.
final class Established: Sendable {
  private let connections = Mutex<[String: Connection_Connection]>([:])

  func set(_ id: String, _ connection: Connection_Connection) {
    connections.withLock { $0[id] = connection }
  }

  func remove(_ id: String) -> Connection_Connection? {
    connections.withLock { $0.removeValue(forKey: id) }
  }

  var count: Int { connections.withLock { $0.count } }
}
