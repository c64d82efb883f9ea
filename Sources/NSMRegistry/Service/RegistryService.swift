internal import Foundation
internal import GRPCCore
internal import Logging
internal import NSMCore

/// One registry (Network Services or Endpoints) behind its chain: what both gRPC services do,
/// written once.
public struct RegistryService<Record: FederatedRecord>: Sendable {
  public let chain: RegistryChain<Record>
  let streams: ActiveStreams
  let logger: Logger

  init(chain: RegistryChain<Record>, streams: ActiveStreams, logger: Logger) {
    self.chain = chain
    self.streams = streams
    self.logger = logger
  }

  func register(_ record: Record, metadata: Metadata) async throws -> Record {
    try await mappingErrors {
      try await chain.register(record, context: try context(metadata))
    }
  }

  func unregister(_ record: Record, metadata: Metadata) async throws {
    try await mappingErrors {
      try await chain.unregister(record, context: try context(metadata))
    }
  }

  func find(
    _ request: FindRequest<Record>,
    metadata: Metadata,
    write: @escaping @Sendable (Record.Response) async throws -> Void
  ) async throws {
    try await mappingErrors {
      var context = try context(metadata)
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

  /// The chain's view of a call: its forwarding metadata and deadline (`grpc-timeout`, which
  /// gRPC enforces on this handler; calls forwarded from here inherit what is left of it).
  private func context(_ metadata: Metadata) throws(NSMError) -> RegistryContext {
    RegistryContext(
      logger: logger,
      forwarding: try ForwardingInfo(metadata: metadata),
      deadline: metadata[stringValues: GRPCTimeout.key].first(where: { _ in true }).flatMap(GRPCTimeout.parse)
        .map { ContinuousClock.now + $0 }
    )
  }
}
