import GRPCCore
import GRPCProtobuf
import NSMAPI

/// The baseline: one unary method that returns the connection it was sent, served by the same
/// `GRPCServerHost` (guarded transport, limits) the manager runs on, over the same kind of
/// unix socket. What a hop of the Network Service API adds is its ratio to this.
struct ConnectEcho: RegistrableRPCService {
  static let method = MethodDescriptor(fullyQualifiedService: "bench.ConnectEcho", method: "Echo", type: .unary)

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: Self.method,
      deserializer: ProtobufDeserializer<Connection_Connection>(),
      serializer: ProtobufSerializer<Connection_Connection>(),
      handler: { request, _ in
        let single = try await ServerRequest(stream: request)
        return StreamingServerResponse(single: ServerResponse(message: single.message))
      }
    )
  }
}

extension GRPCClient {
  func echo(_ connection: Connection_Connection) async throws -> Connection_Connection {
    try await unary(
      request: ClientRequest(message: connection),
      descriptor: ConnectEcho.method,
      serializer: ProtobufSerializer<Connection_Connection>(),
      deserializer: ProtobufDeserializer<Connection_Connection>(),
      options: .defaults,
      onResponse: { try $0.message }
    )
  }
}
