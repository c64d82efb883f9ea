public import GRPCCore
internal import GRPCProtobuf
public import NSMStore
internal import SwiftProtobuf

/// The three calls of a registry service, for either record kind: one implementation where the
/// generated clients have one per kind. Each returns the response metadata too (a secured
/// peer's path, for `next_token_signed`).
extension FederatedRecord {
  /// Registers `record`; the stored record and the response metadata.
  public static func register<Transport: ClientTransport>(
    _ record: Self,
    on grpc: GRPCClient<Transport>,
    options: CallOptions = .defaults,
    metadata: Metadata = [:]
  ) async throws -> (Self, Metadata) {
    try await unary(record, methods.register, answer: Self.self, on: grpc, options: options, metadata: metadata)
  }

  /// Unregisters `record`; the response metadata.
  @discardableResult
  public static func unregister<Transport: ClientTransport>(
    _ record: Self,
    on grpc: GRPCClient<Transport>,
    options: CallOptions = .defaults,
    metadata: Metadata = [:]
  ) async throws -> Metadata {
    try await unary(
      record,
      methods.unregister,
      answer: Google_Protobuf_Empty.self,
      on: grpc,
      options: options,
      metadata: metadata
    ).1
  }

  private static func unary<Transport: ClientTransport, Answer: SwiftProtobuf.Message>(
    _ record: Self,
    _ method: MethodDescriptor,
    answer: Answer.Type,
    on grpc: GRPCClient<Transport>,
    options: CallOptions,
    metadata: Metadata
  ) async throws -> (Answer, Metadata) {
    try await grpc.unary(
      request: ClientRequest(message: record, metadata: metadata),
      descriptor: method,
      serializer: ProtobufSerializer<Self>(),
      deserializer: ProtobufDeserializer<Answer>(),
      options: options
    ) { response in (try response.message, response.metadata) }
  }

  /// Opens a Find and hands its response metadata and responses to `handle`; the call ends
  /// when `handle` returns. A call the server refused throws its status without `handle`.
  public static func find<Transport: ClientTransport, Result: Sendable>(
    _ template: Self,
    watch: Bool,
    on grpc: GRPCClient<Transport>,
    options: CallOptions = .defaults,
    metadata: Metadata = [:],
    handle: @escaping @Sendable (Metadata, RPCAsyncSequence<Response, any Error>) async throws -> Result
  ) async throws -> Result {
    try await grpc.serverStreaming(
      request: ClientRequest(message: query(template, watch: watch), metadata: metadata),
      descriptor: methods.find,
      serializer: ProtobufSerializer<Query>(),
      deserializer: ProtobufDeserializer<Response>(),
      options: options
    ) { response in
      // A refused call has no metadata to check: its status is the answer.
      if case .failure(let error) = response.accepted { throw error }
      return try await handle(response.metadata, response.messages)
    }
  }

  /// The records matching `template` now (a Find without watch, read to its end).
  public static func findAll<Transport: ClientTransport>(
    _ template: Self,
    on grpc: GRPCClient<Transport>,
    options: CallOptions = .defaults,
    metadata: Metadata = [:]
  ) async throws -> [Self] {
    try await find(template, watch: false, on: grpc, options: options, metadata: metadata) { _, responses in
      var found: [Self] = []
      for try await response in responses {
        if let event = event(from: response) { found.append(event.record) }
      }
      return found
    }
  }
}
