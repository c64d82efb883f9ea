internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import GRPCProtobuf
internal import Logging
internal import NSMCore
internal import NSMSecurity
internal import NSMStore
internal import NSMTransport
internal import SwiftProtobuf

/// One registry service on the wire (`registry.NetworkServiceRegistry` or
/// `registry.NetworkServiceEndpointRegistry`), for either record kind, in front of its chain.
///
/// It reads what the chain needs from each call: the deadline, the forwarding metadata, the
/// TLS peer and the path (authorized here, before any element runs), and answers with this
/// registry's path so the caller can check `next_token_signed`.
struct RegistryService<Record: FederatedRecord>: RegistrableRPCService {
  let chain: RegistryChain<Record>
  let streams: ActiveStreams
  let logger: Logger
  let authorizer: CallAuthorizer
  let time: any TimeSource

  /// A call as the chain sees it, and the metadata its response carries.
  struct Call: Sendable {
    var context: RegistryContext
    var responseMetadata: Metadata
  }

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: Record.methods.register,
      deserializer: MeasuringDeserializer<Record>(),
      serializer: ProtobufSerializer<Record>()
    ) { request, context in
      let request = try await ServerRequest(stream: request)
      var call = try await self.call(request.metadata, context)
      call.context.requestBytes = request.message.bytes
      let stored = try await mappingErrors {
        try await chain.register(request.message.message, context: call.context)
      }
      return StreamingServerResponse(single: ServerResponse(message: stored, metadata: call.responseMetadata))
    }
    router.registerHandler(
      forMethod: Record.methods.find,
      deserializer: MeasuringDeserializer<Record.Query>(),
      serializer: ProtobufSerializer<Record.Response>()
    ) { request, context in
      let request = try await ServerRequest(stream: request)
      var call = try await self.call(request.metadata, context)
      call.context.requestBytes = request.message.bytes
      return StreamingServerResponse(metadata: call.responseMetadata) { [call] writer in
        try await self.find(Record.findRequest(request.message.message), call: call) { try await writer.write($0) }
        return [:]
      }
    }
    router.registerHandler(
      forMethod: Record.methods.unregister,
      deserializer: ProtobufDeserializer<Record>(),
      serializer: ProtobufSerializer<Google_Protobuf_Empty>()
    ) { request, context in
      let request = try await ServerRequest(stream: request)
      let call = try await self.call(request.metadata, context)
      try await mappingErrors { try await chain.unregister(request.message, context: call.context) }
      return StreamingServerResponse(
        single: ServerResponse(message: Google_Protobuf_Empty(), metadata: call.responseMetadata)
      )
    }
  }

  func call(_ metadata: Metadata, _ server: ServerContext) async throws -> Call {
    try await mappingErrors {
      let peer = (server.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
        .flatMap(WorkloadIdentity.peer(of:))
      let now = time.now
      var context = RegistryContext(
        logger: logger,
        now: time.date,
        forwarding: try ForwardingInfo(metadata: metadata),
        deadline: GRPCTimeout.timeout(in: metadata)
          .map { now + $0 },
        caller: Self.host(of: server.remotePeer)
      )
      var responseMetadata: Metadata = [:]
      if let authorization = try await authorizer.authorize(
        metadata: metadata,
        peer: peer,
        now: context.now,
        logger: logger
      ) {
        context.authorization = authorization
        context.caller = authorization.originator
        responseMetadata.addString(authorization.path.json, forKey: RegistryPath.metadataKey)
      }
      return Call(context: context, responseMetadata: responseMetadata)
    }
  }

  func find(
    _ request: FindRequest<Record>,
    call: Call,
    write: @escaping @Sendable (Record.Response) async throws -> Void
  ) async throws {
    try await mappingErrors {
      var context = call.context
      if request.watch && context.forwarding.wantsSnapshotMarker {
        context.snapshotComplete = { try await write(Record.snapshotMarker) }
      }
      let chain = self.chain
      let sink: FindSink<Record> = { event in
        try await write(event.record.response(deleted: event.deleted))
      }
      if request.watch {
        try await streams.run { [context] in try await chain.find(request, context: context, sink: sink) }
      } else {
        try await chain.find(request, context: context, sink: sink)
      }
    }
  }

  /// `ipv4:127.0.0.1:5000` → `ipv4:127.0.0.1`: who is calling, whatever port it called from.
  static func host(of peer: String) -> String {
    guard peer.hasPrefix("ipv4:") || peer.hasPrefix("ipv6:"), let colon = peer.lastIndex(of: ":") else { return peer }
    return String(peer[..<colon])
  }
}
