public import GRPCCore
public import NSMAPI
public import SwiftProtobuf

/// `registry.NetworkServiceRegistry` on the wire. The full service protocol, not the simple
/// one: forwarding reads the request metadata.
public struct NetworkServiceRegistryService: Registry_NetworkServiceRegistry.ServiceProtocol {
  let core: RegistryService<Registry_NetworkService>

  public func register(
    request: ServerRequest<Registry_NetworkService>,
    context: ServerContext
  ) async throws -> ServerResponse<Registry_NetworkService> {
    ServerResponse(message: try await core.register(request.message, metadata: request.metadata))
  }

  public func find(
    request: ServerRequest<Registry_NetworkServiceQuery>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Registry_NetworkServiceResponse> {
    let core = self.core
    return StreamingServerResponse { writer in
      try await core.find(
        FindRequest(query: request.message.networkService, watch: request.message.watch),
        metadata: request.metadata
      ) { try await writer.write($0) }
      return [:]
    }
  }

  public func unregister(
    request: ServerRequest<Registry_NetworkService>,
    context: ServerContext
  ) async throws -> ServerResponse<Google_Protobuf_Empty> {
    try await core.unregister(request.message, metadata: request.metadata)
    return ServerResponse(message: Google_Protobuf_Empty())
  }
}
