/// A change a watcher sees: a record registered or refreshed, or removed (`deleted`).
public struct RecordEvent<Record: RegistryRecord>: Sendable, Equatable {
  public var record: Record
  public var deleted: Bool

  public init(record: Record, deleted: Bool) {
    self.record = record
    self.deleted = deleted
  }
}

/// An open watch: the matches at the moment it opened, then every later change that matches,
/// with no gap and no duplicate between the two.
///
/// `events` is bounded: a consumer that falls more than the buffer behind gets the buffered
/// events and then a RESOURCE_EXHAUSTED error, never a silent gap. Ending the iteration
/// (cancelling the consuming task) frees the subscription.
public struct RecordWatch<Record: RegistryRecord>: Sendable {
  public let initial: [Record]
  public let events: AsyncThrowingStream<RecordEvent<Record>, any Error>

  public init(initial: [Record], events: AsyncThrowingStream<RecordEvent<Record>, any Error>) {
    self.initial = initial
    self.events = events
  }
}
