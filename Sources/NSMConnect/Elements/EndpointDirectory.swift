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
  /// What a workload of this domain registered into another domain as `name` (`nse@D`), with
  /// the URL of the manager it registered through; nil when none did. A gateway reads it to
  /// take connections for such endpoints to them.
  func origin(named name: String, context: ConnectContext) async throws -> Registry_NetworkServiceEndpoint?
}

extension EndpointDirectory {
  public func origin(named name: String, context: ConnectContext) async throws -> Registry_NetworkServiceEndpoint? {
    nil
  }
}
