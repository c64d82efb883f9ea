internal import Foundation
internal import GRPCCore
internal import Logging
public import NSMAPI
public import NSMCore

/// Upstream's `discover` (reference §3.2): finds the network service and the endpoints that
/// may serve this request, by its `matches` and the request's labels, or the one endpoint the
/// connection already uses (a refresh keeps its endpoint).
///
/// A refresh while the registry cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED: the domain's
/// registry or, across domains, the other domain's) keeps what the last discovery of the
/// connection here found: a working vWire is not torn down because a registry restarts. What
/// a registry answers (NOT_FOUND: the endpoint is gone) still fails the refresh.
public struct DiscoverElement: ConnectElement {
  public let directory: any EndpointDirectory
  public let time: any TimeSource
  /// The last discovery of each connection that passed here, for refreshes during an outage.
  private let known = PerConnection<ConnectContext.Discovery>()

  public init(directory: any EndpointDirectory, time: any TimeSource = SystemTime()) {
    self.directory = directory
    self.time = time
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    var request = request
    var context = context
    let id = request.connection.id
    let selected = request.connection.networkServiceEndpointName
    let discovery: ConnectContext.Discovery
    do {
      discovery = try await discover(&request, context: context)
    } catch  where Self.isUnreachable(error) && !selected.isEmpty {
      guard let last = known.get(id), last.candidates.map(\.name) == [selected] else { throw error }
      context.logger.warning(
        "the registry cannot be reached; the refresh keeps the endpoint discovered last",
        metadata: ["connection": "\(id)", "endpoint": "\(selected)", "error": "\(error)"]
      )
      request.connection.payload = last.service.payload
      discovery = last
    }
    context.discovery = discovery
    let answer = try await next.request(request, context: context)
    let chosen = discovery.candidates.filter { $0.name == answer.networkServiceEndpointName }
    if !chosen.isEmpty { known.set(id, .init(service: discovery.service, candidates: chosen)) }
    return answer
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    known.remove(connection.id)
    try await next.close(connection, context: context)
  }

  /// The network service and the candidates for `request` (its payload set from the service).
  private func discover(
    _ request: inout Networkservice_NetworkServiceRequest,
    context: ConnectContext
  ) async throws -> ConnectContext.Discovery {
    let connection = request.connection
    let name = connection.networkService
    guard !name.isEmpty else { throw NSMError.invalidArgument("the request names no network service") }
    try NameRules.validate(name, field: "network service")
    try LabelRules.validate(connection.labels, field: "labels")
    guard let service = try await directory.service(named: name, context: context) else {
      throw NSMError.notFound("network service '\(name)' is not found")
    }
    if !connection.payload.isEmpty, !service.payload.isEmpty, connection.payload != service.payload {
      throw NSMError.invalidArgument(
        "network service '\(name)' carries \(service.payload), the request asks for \(connection.payload)"
      )
    }
    request.connection.payload = service.payload
    let selected = connection.networkServiceEndpointName
    if !selected.isEmpty {
      guard let endpoint = try await directory.endpoint(named: selected, context: context), isAlive(endpoint) else {
        throw NSMError.notFound("network service endpoint '\(selected)' not found")
      }
      return .init(service: service, candidates: [endpoint])
    }
    let endpoints = try await directory.endpoints(providing: name, context: context).filter(isAlive)
    let candidates = EndpointMatching.candidates(
      requestLabels: connection.labels,
      service: service,
      endpoints: endpoints
    )
    guard !candidates.isEmpty else {
      throw NSMError.notFound(
        Self.noCandidates(service: service, labels: connection.labels, endpoints: endpoints.count)
      )
    }
    return .init(service: service, candidates: candidates)
  }

  /// A registry that could not be reached, as opposed to one that answered.
  static func isUnreachable(_ error: any Error) -> Bool {
    if let error = error as? RPCError { return error.code == .unavailable || error.code == .deadlineExceeded }
    if let error = error as? NSMError { return error.code == .unavailable || error.code == .deadlineExceeded }
    return false
  }

  /// A registration whose lease ran out is gone, even if the registry has not reaped it yet.
  private func isAlive(_ endpoint: Registry_NetworkServiceEndpoint) -> Bool {
    !endpoint.hasExpirationTime || endpoint.expirationTime.date > time.date
  }

  static func noCandidates(service: Registry_NetworkService, labels: [String: String], endpoints: Int) -> String {
    let shown =
      labels.isEmpty
      ? "no labels"
      : "labels " + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    if endpoints == 0 {
      return "network service '\(service.name)' has no endpoints"
    }
    guard let applied = EndpointMatching.appliedMatch(requestLabels: labels, service: service) else {
      return "no match of network service '\(service.name)' applies to \(shown) (\(endpoints) endpoints registered)"
    }
    return
      "no endpoint of network service '\(service.name)' matches \(shown) (match \(applied + 1) applied; \(endpoints) endpoints registered)"
  }
}
