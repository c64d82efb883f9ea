internal import Foundation
internal import Logging
public import NSMAPI
public import NSMCore

/// Upstream's `discover` (reference §3.2): finds the network service and the endpoints that
/// may serve this request, by its `matches` and the request's labels, or the one endpoint the
/// connection already uses (a refresh keeps its endpoint).
public struct DiscoverElement: ConnectElement {
  public let directory: any EndpointDirectory
  public let time: any TimeSource

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
      context.discovery = .init(service: service, candidates: [endpoint])
      return try await next.request(request, context: context)
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
    context.discovery = .init(service: service, candidates: candidates)
    return try await next.request(request, context: context)
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
