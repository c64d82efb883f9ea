internal import Logging
internal import NSMCore
internal import NSMStore

/// The watchers of one record kind on one replica, behind a type-erased face so the change feed
/// keeps every kind's watchers in one dictionary keyed by ``PostgresStorable/changeKind``.
protocol KindWatchers: Sendable {
  var count: Int { get }
  /// Decodes `change` as this kind's record and hands it to the matching watchers; returns what
  /// must be finished once the feed's lock is released.
  mutating func publish(_ change: ChangeFeed.Change) throws -> Finish
  /// Ends every watcher with `error`.
  mutating func removeAll(failing error: NSMError) -> Finish
  mutating func remove(_ id: Int)
}

/// Streams to end after a lock is released (see ``WatchSubscribers/Overflowed``).
struct Finish: Sendable {
  private var actions: [@Sendable () -> Void] = []

  static var none: Finish { Finish() }

  init() {}

  init<Record>(_ overflowed: WatchSubscribers<Record>.Overflowed) {
    actions = [{ overflowed.finish() }]
  }

  mutating func append(_ other: Finish) {
    actions += other.actions
  }

  func run() {
    for action in actions { action() }
  }
}

struct Watchers<Record: PostgresStorable>: KindWatchers {
  var subscribers = WatchSubscribers<Record>()

  var count: Int { subscribers.count }

  mutating func publish(_ change: ChangeFeed.Change) throws -> Finish {
    let record = try Record(serializedBytes: change.record)
    return Finish(
      subscribers.publish(RecordEvent(record: record, deleted: change.deleted), version: UInt64(bitPattern: change.tx))
    )
  }

  mutating func removeAll(failing error: NSMError) -> Finish {
    Finish(subscribers.removeAll(failing: error))
  }

  mutating func remove(_ id: Int) {
    subscribers.remove(id)
  }
}
