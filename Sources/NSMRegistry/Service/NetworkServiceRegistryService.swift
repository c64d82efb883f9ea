public import GRPCCore
public import NSMAPI
public import SwiftProtobuf

/// `registry.NetworkServiceRegistry` on the wire.
public struct NetworkServiceRegistryService: Registry_NetworkServiceRegistry.SimpleServiceProtocol {
  let core: RegistryService<Registry_NetworkService>

  public func register(
    request: Registry_NetworkService,
    context: ServerContext
  ) async throws -> Registry_NetworkService {
    try await core.register(request)
  }

  public func find(
    request: Registry_NetworkServiceQuery,
    response: RPCWriter<Registry_NetworkServiceResponse>,
    context: ServerContext
  ) async throws {
    try await core.find(FindRequest(query: request.networkService, watch: request.watch)) {
      try await response.write($0)
    }
  }

  public func unregister(
    request: Registry_NetworkService,
    context: ServerContext
  ) async throws -> Google_Protobuf_Empty {
    try await core.unregister(request)
    return Google_Protobuf_Empty()
  }
}
