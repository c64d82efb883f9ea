internal import GRPCCore
internal import Logging
public import NSMAPI
internal import NSMCore
internal import NSMTransport
internal import Synchronization

/// Upstream's `roundrobin` (reference §3.5): picks the next candidate per network service,
/// and when one fails tries the others before giving up, naming every attempt.
public struct SelectElement: ConnectElement {
  public let routing: Routing
  /// Finds a connection's endpoint on Close when this process has no route for it (it restarted).
  public let directory: (any EndpointDirectory)?
  public let routes: Routes?
  private let counters = RoundRobinCounters()

  public init(routing: Routing, directory: (any EndpointDirectory)? = nil, routes: Routes? = nil) {
    self.routing = routing
    self.directory = directory
    self.routes = routes
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    var context = context
    let name = connection.networkServiceEndpointName
    if let directory, let routes, routes.route(of: connection.id) == nil, !name.isEmpty {
      // As upstream's discover on Close: find the endpoint if possible, close here regardless.
      do {
        if let endpoint = try await directory.endpoint(named: name, context: context) {
          context.nextHop = try await routing.hop(for: endpoint)
        }
      } catch {
        context.logger.debug("no route for a Close", metadata: ["endpoint": "\(name)", "error": "\(error)"])
      }
    }
    try await next.close(connection, context: context)
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    guard let discovery = context.discovery, !discovery.candidates.isEmpty else {
      return try await next.request(request, context: context)
    }
    let candidates = discovery.candidates
    let start = counters.next(discovery.service.name)
    var failures: [(String, any Error)] = []
    for offset in 0..<candidates.count {
      let endpoint = candidates[(start + offset) % candidates.count]
      var request = request
      var context = context
      request.connection.networkServiceEndpointName = endpoint.name
      do {
        context.nextHop = try await routing.hop(for: endpoint)
        return try await next.request(request, context: context)
      } catch {
        try Task.checkCancellation()
        if let deadline = context.deadline, deadline <= .now { throw error }
        context.logger.debug(
          "candidate failed",
          metadata: ["endpoint": "\(endpoint.name)", "error": "\(error)"]
        )
        failures.append((endpoint.name, error))
      }
    }
    throw Self.allFailed(service: discovery.service.name, failures)
  }

  static func allFailed(service: String, _ failures: [(String, any Error)]) -> RPCError {
    let detail = failures.map { "\($0.0): \(describe($0.1))" }.joined(separator: "; ")
    // One candidate: its own status, so "endpoint created as …" or INVALID_ARGUMENT reach the
    // client as the endpoint said them.
    if failures.count == 1, let code = PeerCaller.code(of: failures[0].1) {
      return RPCError(code: code, message: "network service '\(service)': \(detail)")
    }
    return RPCError(
      code: .unavailable,
      message: "all \(failures.count) candidates of network service '\(service)' failed: \(detail)"
    )
  }

  static func describe(_ error: any Error) -> String {
    switch error {
    case let error as RPCError: error.message
    case let error as NSMError: error.message
    default: "\(error)"
    }
  }
}

/// One counter per network service name, as upstream's round robin keeps.
final class RoundRobinCounters: Sendable {
  private let counters = Mutex<[String: Int]>([:])

  func next(_ service: String) -> Int {
    counters.withLock { counters in
      defer { counters[service, default: 0] &+= 1 }
      return counters[service, default: 0]
    }
  }
}
