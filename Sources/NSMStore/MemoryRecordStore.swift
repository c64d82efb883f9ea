public import Foundation
internal import HeapModule
internal import NSMCore
internal import Synchronization

/// The embedded store: records in a dictionary, watchers notified in commit order.
///
/// All state sits behind one `Mutex`. Notifying a watcher only appends to its bounded buffer,
/// so a slow watcher never blocks a writer or another watcher.
public final class MemoryRecordStore<Record: RegistryRecord>: RecordStore, Sendable {
  private struct Expiry: Comparable {
    let deadline: Date
    let name: String
    static func < (lhs: Expiry, rhs: Expiry) -> Bool { lhs.deadline < rhs.deadline }
  }

  private struct Stored {
    var record: Record
    /// Who registered the name first; kept across refreshes.
    var registrant: String
  }

  private struct State {
    var records: [String: Stored] = [:]
    var watchers = WatchSubscribers<Record>()
    /// Lazily pruned: a refresh pushes a new entry and leaves the old one to be skipped.
    var expiries = Heap<Expiry>()
  }

  private let state = Mutex(State())

  public init() {}

  /// How many watches are open; tests use it to see that a cancelled watch is freed.
  public var watcherCount: Int { state.withLock { $0.watchers.count } }

  /// How many records are stored.
  public var count: Int { state.withLock { $0.records.count } }

  public func register(_ record: Record, admit: RegistrantCheck?) async throws -> Record {
    let (stored, overflowed) = try state.withLock { state in
      let existing = state.records[record.name]
      try admit?(existing?.registrant)
      var stored = Stored(record: record, registrant: record.registrant)
      if let existing {
        stored = Stored(record: record.carryingOver(from: existing.record), registrant: existing.registrant)
      }
      state.records[record.name] = stored
      if let deadline = stored.record.expiration {
        state.expiries.insert(Expiry(deadline: deadline, name: record.name))
      }
      return (stored.record, state.watchers.publish(RecordEvent(record: stored.record, deleted: false)))
    }
    overflowed.finish()
    return stored
  }

  public func unregister(name: String, admit: RegistrantCheck?) async throws -> Record? {
    let (removed, overflowed) = try state.withLock { state -> (Record?, WatchSubscribers<Record>.Overflowed) in
      try admit?(state.records[name]?.registrant)
      guard let removed = state.records.removeValue(forKey: name)?.record else { return (nil, .none) }
      return (removed, state.watchers.publish(RecordEvent(record: removed, deleted: true)))
    }
    overflowed.finish()
    return removed
  }

  public func find(_ query: Record) async throws -> [Record] {
    state.withLock { state in Self.matches(of: query, in: state.records) }
  }

  public func registrant(of name: String) async throws -> String? {
    state.withLock { $0.records[name]?.registrant }
  }

  public func watch(_ query: Record, bufferSize: Int) async throws -> RecordWatch<Record> {
    let (initial, subscription) = state.withLock { state in
      (Self.matches(of: query, in: state.records), state.watchers.add(query: query, bufferSize: bufferSize))
    }
    // Not under the lock here: this runs inside the cancellation of the watcher's task, while
    // a publish may hold the lock and wait to resume that very task (a deadlock). Later is fine:
    // a publish to a finished stream is dropped.
    subscription.continuation.onTermination = { [weak self] _ in
      Task { self?.state.withLock { $0.watchers.remove(subscription.id) } }
    }
    return RecordWatch(initial: initial, events: subscription.events)
  }

  public func removeExpired(now: Date) async throws -> [Record] {
    let (removed, overflowed) = state.withLock { state in
      var removed: [Record] = []
      var overflowed = WatchSubscribers<Record>.Overflowed.none
      while let next = state.expiries.min, next.deadline <= now {
        state.expiries.removeMin()
        // Skip entries left behind by a refresh or an unregister.
        guard let record = state.records[next.name]?.record, let deadline = record.expiration,
          deadline <= now
        else { continue }
        state.records[next.name] = nil
        removed.append(record)
        overflowed.append(state.watchers.publish(RecordEvent(record: record, deleted: true)))
      }
      return (removed, overflowed)
    }
    overflowed.finish()
    return removed
  }

  /// Byte order of the UTF-8 names: PostgreSQL's `COLLATE "C"`, so both stores list alike.
  static func byName(_ a: Record, _ b: Record) -> Bool {
    a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
  }

  private static func matches(of query: Record, in records: [String: Stored]) -> [Record] {
    // A query naming one record is a dictionary lookup, whatever the store's size.
    if !query.name.isEmpty {
      guard let record = records[query.name]?.record, record.matches(query: query) else { return [] }
      return [record]
    }
    return records.values.lazy.map(\.record).filter { $0.matches(query: query) }.sorted(by: Self.byName)
  }
}
