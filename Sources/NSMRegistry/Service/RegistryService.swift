internal import NSMStore
internal import Foundation
internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import Logging
internal import NSMCore
internal import NSMSecurity

/// One registry (Network Services or Endpoints) behind its chain: what both gRPC services do,
/// written once.
public struct RegistryService<Record: FederatedRecord>: Sendable {
  public let chain: RegistryChain<Record>
  let streams: ActiveStreams
  let logger: Logger
  let authorizer: CallAuthorizer

  init(chain: RegistryChain<Record>, streams: ActiveStreams, logger: Logger, authorizer: CallAuthorizer) {
    self.chain = chain
    self.streams = streams
    self.logger = logger
    self.authorizer = authorizer
  }

  /// A call as the chain sees it, and the metadata its response carries (this registry's path,
  /// so the caller can check `next_token_signed`).
  struct Call: Sendable {
    var context: RegistryContext
    var responseMetadata: Metadata
  }

  func call(_ metadata: Metadata, _ server: ServerContext) async throws -> Call {
    try await mappingErrors {
      let peer = (server.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
        .flatMap(WorkloadIdentity.peer(of:))
      var context = RegistryContext(
        logger: logger,
        forwarding: try ForwardingInfo(metadata: metadata),
        deadline: metadata[stringValues: GRPCTimeout.key].first(where: { _ in true }).flatMap(GRPCTimeout.parse)
          .map { ContinuousClock.now + $0 }
      )
      var responseMetadata: Metadata = [:]
      if let authorization = try authorizer.authorize(metadata: metadata, peer: peer, logger: logger) {
        context.authorization = authorization
        responseMetadata.addString(authorization.path.json, forKey: RegistryPath.metadataKey)
      }
      return Call(context: context, responseMetadata: responseMetadata)
    }
  }

  func register(_ record: Record, call: Call) async throws -> Record {
    try await mappingErrors {
      try await chain.register(record, context: call.context)
    }
  }

  func unregister(_ record: Record, call: Call) async throws {
    try await mappingErrors {
      try await chain.unregister(record, context: call.context)
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
}
