public import NSMAPI

/// Where discovery reads network services and endpoints: the domain's registry, behind a
/// protocol so element tests can hand in a fixed set.
public protocol EndpointDirectory: Sendable {
  /// The network service named exactly `name`, or nil.
  func service(named name: String, context: ConnectContext) async throws -> Registry_NetworkService?
  /// The endpoints that registered as providing `service`.
  func endpoints(providing service: String, context: ConnectContext) async throws -> [Registry_NetworkServiceEndpoint]
  /// The endpoint named exactly `name`, or nil.
  func endpoint(named name: String, context: ConnectContext) async throws -> Registry_NetworkServiceEndpoint?
}
