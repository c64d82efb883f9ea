import GRPCCore
import GRPCProtobuf
import NSMAPI

/// The baseline: one unary method that returns the endpoint it was sent, with no registry
/// chain, validation or store behind it. Same gRPC stack, transport and protobuf codec as the
/// registry, so the registry's cost is what the ratio to this adds.
struct EchoService: RegistrableRPCService {
  static let method = MethodDescriptor(fullyQualifiedService: "bench.Echo", method: "Echo", type: .unary)

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: Self.method,
      deserializer: ProtobufDeserializer<Registry_NetworkServiceEndpoint>(),
      serializer: ProtobufSerializer<Registry_NetworkServiceEndpoint>(),
      handler: { request, _ in
        let single = try await ServerRequest(stream: request)
        return StreamingServerResponse(single: ServerResponse(message: single.message))
      }
    )
  }
}

extension GRPCClient {
  /// One call of `bench.Echo/Echo`.
  func echo(_ endpoint: Registry_NetworkServiceEndpoint) async throws -> Registry_NetworkServiceEndpoint {
    try await unary(
      request: ClientRequest(message: endpoint),
      descriptor: EchoService.method,
      serializer: ProtobufSerializer<Registry_NetworkServiceEndpoint>(),
      deserializer: ProtobufDeserializer<Registry_NetworkServiceEndpoint>(),
      options: .defaults,
      onResponse: { try $0.message }
    )
  }
}
