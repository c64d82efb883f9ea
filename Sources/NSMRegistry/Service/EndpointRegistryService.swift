public import GRPCCore
public import NSMAPI
public import SwiftProtobuf

/// `registry.NetworkServiceEndpointRegistry` on the wire.
public struct EndpointRegistryService: Registry_NetworkServiceEndpointRegistry.SimpleServiceProtocol {
  let core: RegistryService<Registry_NetworkServiceEndpoint>

  public func register(
    request: Registry_NetworkServiceEndpoint,
    context: ServerContext
  ) async throws -> Registry_NetworkServiceEndpoint {
    try await core.register(request)
  }

  public func find(
    request: Registry_NetworkServiceEndpointQuery,
    response: RPCWriter<Registry_NetworkServiceEndpointResponse>,
    context: ServerContext
  ) async throws {
    try await core.find(FindRequest(query: request.networkServiceEndpoint, watch: request.watch)) {
      try await response.write($0)
    }
  }

  public func unregister(
    request: Registry_NetworkServiceEndpoint,
    context: ServerContext
  ) async throws -> Google_Protobuf_Empty {
    try await core.unregister(request)
    return Google_Protobuf_Empty()
  }
}
