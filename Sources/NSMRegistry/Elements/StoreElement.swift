public import NSMStore

/// The end of a local chain: reads and writes the store.
public struct StoreElement<Store: RecordStore>: RegistryElement {
  public typealias Record = Store.Record

  public let store: Store
  /// Events a watcher may fall behind before its stream ends with RESOURCE_EXHAUSTED.
  public let watchBufferSize: Int

  public init(store: Store, watchBufferSize: Int) {
    self.store = store
    self.watchBufferSize = watchBufferSize
  }

  public func register(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws -> Record {
    let stored = try await store.register(record, admit: context.admit)
    context.logger.debug("registered \(stored.label)")
    return stored
  }

  public func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>,
    next: RegistryNext<Record>
  ) async throws {
    guard request.watch else {
      for record in try await store.find(request.query) {
        try await sink(RecordEvent(record: record, deleted: false))
      }
      return
    }
    let watch = try await store.watch(request.query, bufferSize: watchBufferSize)
    for record in watch.initial {
      try await sink(RecordEvent(record: record, deleted: false))
    }
    try await context.snapshotComplete?()
    // Ends without error when the consuming task is cancelled (client gone, or shutdown).
    for try await event in watch.events {
      try await sink(event)
    }
  }

  public func unregister(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws {
    if try await store.unregister(name: record.name, admit: context.admit) != nil {
      context.logger.debug("unregistered \(record.label)")
    }
  }
}
