internal import Foundation
internal import Logging

/// One registry (Network Services or Endpoints) behind its chain: what both gRPC services do,
/// written once.
public struct RegistryService<Record: RegistryRecord>: Sendable {
  public let chain: RegistryChain<Record>
  let streams: ActiveStreams
  let logger: Logger

  init(chain: RegistryChain<Record>, streams: ActiveStreams, logger: Logger) {
    self.chain = chain
    self.streams = streams
    self.logger = logger
  }

  func register(_ record: Record) async throws -> Record {
    try await mappingErrors {
      try await chain.register(record, context: RegistryContext(logger: logger))
    }
  }

  func unregister(_ record: Record) async throws {
    try await mappingErrors {
      try await chain.unregister(record, context: RegistryContext(logger: logger))
    }
  }

  func find(
    _ request: FindRequest<Record>,
    write: @escaping @Sendable (Record.Response) async throws -> Void
  ) async throws {
    let context = RegistryContext(logger: logger)
    let chain = self.chain
    let sink: FindSink<Record> = { event in
      try await write(event.record.response(deleted: event.deleted))
    }
    try await mappingErrors {
      if request.watch {
        try await streams.run { try await chain.find(request, context: context, sink: sink) }
      } else {
        try await chain.find(request, context: context, sink: sink)
      }
    }
  }
}
