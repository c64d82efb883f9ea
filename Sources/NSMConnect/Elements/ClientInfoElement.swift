public import NSMAPI

/// Upstream's `clientinfo`: the request's labels get this node's `nodeName` and `clusterName`
/// (only where the client did not set them), so a NetworkService can select by topology with
/// `{{ .nodeName }}`.
public struct ClientInfoElement: ConnectElement {
  public let labels: [String: String]

  public init(labels: [String: String]) {
    self.labels = labels
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    var request = request
    for (key, value) in labels where request.connection.labels[key] == nil {
      request.connection.labels[key] = value
    }
    return try await next.request(request, context: context)
  }
}
