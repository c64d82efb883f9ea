public import GRPCCore
public import GRPCNIOTransportHTTP2
public import NSMAPI
internal import NSMCore
internal import NSMRegistry

/// Discovery's view of the domain registry, over the manager's one long-lived connection to it.
public struct RegistryDirectory: EndpointDirectory {
  public let grpc: GRPCClient<HTTP2ClientTransport.Posix>
  public var defaultTimeout: Duration = .seconds(10)

  public init(grpc: GRPCClient<HTTP2ClientTransport.Posix>) {
    self.grpc = grpc
  }

  public func service(named name: String, context: ConnectContext) async throws -> Registry_NetworkService? {
    var template = Registry_NetworkService()
    template.name = name
    return try await Registry_NetworkService.findAll(template, on: grpc, options: options(context)).first {
      $0.name == name
    }
  }

  public func endpoints(providing service: String, context: ConnectContext) async throws
    -> [Registry_NetworkServiceEndpoint]
  {
    var template = Registry_NetworkServiceEndpoint()
    template.networkServiceNames = [service]
    return try await Registry_NetworkServiceEndpoint.findAll(template, on: grpc, options: options(context))
  }

  public func endpoint(named name: String, context: ConnectContext) async throws -> Registry_NetworkServiceEndpoint? {
    var template = Registry_NetworkServiceEndpoint()
    template.name = name
    return try await Registry_NetworkServiceEndpoint.findAll(template, on: grpc, options: options(context)).first {
      $0.name == name
    }
  }

  public func origin(named name: String, context: ConnectContext) async throws -> Registry_NetworkServiceEndpoint? {
    var template = Registry_NetworkServiceEndpoint()
    template.name = name
    let found = try await Registry_NetworkServiceEndpoint.findAll(
      template,
      on: grpc,
      options: options(context),
      metadata: [ForwardingInfo.originsKey: "1"]
    )
    let wanted = ScopedName(name)
    return found.first {
      let scoped = ScopedName($0.name)
      return scoped.target == wanted.target && wanted.domain.map(scoped.isIn) == true
    }
  }

  private func options(_ context: ConnectContext) -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = context.deadline.map { $0 - .now } ?? defaultTimeout
    return options
  }
}
