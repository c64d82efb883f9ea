public import GRPCCore
public import NSMAPI
public import SwiftProtobuf

/// `registry.NetworkServiceEndpointRegistry` on the wire. The full service protocol, not the simple
/// one: forwarding reads the request metadata.
public struct EndpointRegistryService: Registry_NetworkServiceEndpointRegistry.ServiceProtocol {
  let core: RegistryService<Registry_NetworkServiceEndpoint>

  public func register(
    request: ServerRequest<Registry_NetworkServiceEndpoint>,
    context: ServerContext
  ) async throws -> ServerResponse<Registry_NetworkServiceEndpoint> {
    ServerResponse(message: try await core.register(request.message, metadata: request.metadata))
  }

  public func find(
    request: ServerRequest<Registry_NetworkServiceEndpointQuery>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Registry_NetworkServiceEndpointResponse> {
    let core = self.core
    return StreamingServerResponse { writer in
      try await core.find(
        FindRequest(query: request.message.networkServiceEndpoint, watch: request.message.watch),
        metadata: request.metadata
      ) { try await writer.write($0) }
      return [:]
    }
  }

  public func unregister(
    request: ServerRequest<Registry_NetworkServiceEndpoint>,
    context: ServerContext
  ) async throws -> ServerResponse<Google_Protobuf_Empty> {
    try await core.unregister(request.message, metadata: request.metadata)
    return ServerResponse(message: Google_Protobuf_Empty())
  }
}
