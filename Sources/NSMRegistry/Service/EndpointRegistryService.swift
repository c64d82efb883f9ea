public import NSMAPIGRPC
public import GRPCCore
public import NSMAPI
public import SwiftProtobuf

/// `registry.NetworkServiceEndpointRegistry` on the wire. The full service protocol, not the simple
/// one: forwarding and authorization read the request metadata and the TLS peer.
public struct EndpointRegistryService: Registry_NetworkServiceEndpointRegistry.ServiceProtocol {
  let core: RegistryService<Registry_NetworkServiceEndpoint>

  public func register(
    request: ServerRequest<Registry_NetworkServiceEndpoint>,
    context: ServerContext
  ) async throws -> ServerResponse<Registry_NetworkServiceEndpoint> {
    let call = try await core.call(request.metadata, context)
    let stored = try await core.register(request.message, call: call)
    return ServerResponse(message: stored, metadata: call.responseMetadata)
  }

  public func find(
    request: ServerRequest<Registry_NetworkServiceEndpointQuery>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Registry_NetworkServiceEndpointResponse> {
    let core = self.core
    let call = try await core.call(request.metadata, context)
    return StreamingServerResponse(metadata: call.responseMetadata) { writer in
      try await core.find(
        FindRequest(query: request.message.networkServiceEndpoint, watch: request.message.watch),
        call: call
      ) { try await writer.write($0) }
      return [:]
    }
  }

  public func unregister(
    request: ServerRequest<Registry_NetworkServiceEndpoint>,
    context: ServerContext
  ) async throws -> ServerResponse<Google_Protobuf_Empty> {
    let call = try await core.call(request.metadata, context)
    try await core.unregister(request.message, call: call)
    return ServerResponse(message: Google_Protobuf_Empty(), metadata: call.responseMetadata)
  }
}
