public import Foundation
internal import HeapModule
internal import NSMCore
internal import Synchronization

/// The embedded store: records in a dictionary, watchers notified in commit order.
///
/// All state sits behind one `Mutex`. Notifying a watcher only appends to its bounded buffer,
/// so a slow watcher never blocks a writer or another watcher.
public final class MemoryRecordStore<Record: RegistryRecord>: RecordStore, Sendable {
  public typealias Events = AsyncThrowingStream<RecordEvent<Record>, any Error>

  private struct Subscriber {
    let query: Record
    let bufferSize: Int
    let continuation: Events.Continuation
  }

  private struct Expiry: Comparable {
    let deadline: Date
    let name: String
    static func < (lhs: Expiry, rhs: Expiry) -> Bool { lhs.deadline < rhs.deadline }
  }

  private struct State {
    var records: [String: Record] = [:]
    var subscribers: [Int: Subscriber] = [:]
    var nextSubscriberID = 0
    /// Lazily pruned: a refresh pushes a new entry and leaves the old one to be skipped.
    var expiries = Heap<Expiry>()

    /// Hands `event` to every matching watcher. Returns the watchers that overflowed: they are
    /// removed here and must be finished outside the lock (finishing runs their termination
    /// handler, which takes the lock).
    mutating func publish(_ event: RecordEvent<Record>) -> [(Events.Continuation, Int)] {
      var overflowed: [(Events.Continuation, Int)] = []
      for (id, subscriber) in subscribers where event.record.matches(query: subscriber.query) {
        switch subscriber.continuation.yield(event) {
        case .enqueued:
          continue
        case .dropped:
          subscribers[id] = nil
          overflowed.append((subscriber.continuation, subscriber.bufferSize))
        case .terminated:
          subscribers[id] = nil
        @unknown default:
          subscribers[id] = nil
        }
      }
      return overflowed
    }
  }

  private let state = Mutex(State())

  public init() {}

  /// How many watches are open; tests use it to see that a cancelled watch is freed.
  public var watcherCount: Int { state.withLock { $0.subscribers.count } }

  /// How many records are stored.
  public var count: Int { state.withLock { $0.records.count } }

  public func register(_ record: Record) async throws -> Record {
    let (stored, overflowed) = state.withLock { state in
      var stored = record
      if let existing = state.records[record.name] {
        stored = record.carryingOver(from: existing)
      }
      state.records[record.name] = stored
      if let deadline = stored.expiration {
        state.expiries.insert(Expiry(deadline: deadline, name: stored.name))
      }
      return (stored, state.publish(RecordEvent(record: stored, deleted: false)))
    }
    finish(overflowed)
    return stored
  }

  public func unregister(name: String) async throws -> Record? {
    let (removed, overflowed) = state.withLock { state -> (Record?, [(Events.Continuation, Int)]) in
      guard let removed = state.records.removeValue(forKey: name) else { return (nil, []) }
      return (removed, state.publish(RecordEvent(record: removed, deleted: true)))
    }
    finish(overflowed)
    return removed
  }

  public func find(_ query: Record) async throws -> [Record] {
    state.withLock { state in Self.matches(of: query, in: state.records) }
  }

  public func watch(_ query: Record, bufferSize: Int) async throws -> RecordWatch<Record> {
    let (events, continuation) = Events.makeStream(bufferingPolicy: .bufferingOldest(max(1, bufferSize)))
    let (initial, id) = state.withLock { state in
      let id = state.nextSubscriberID
      state.nextSubscriberID += 1
      state.subscribers[id] = Subscriber(query: query, bufferSize: bufferSize, continuation: continuation)
      return (Self.matches(of: query, in: state.records), id)
    }
    continuation.onTermination = { [weak self] _ in
      self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
    }
    return RecordWatch(initial: initial, events: events)
  }

  public func removeExpired(now: Date) async throws -> [Record] {
    let (removed, overflowed) = state.withLock { state in
      var removed: [Record] = []
      var overflowed: [(Events.Continuation, Int)] = []
      while let next = state.expiries.min, next.deadline <= now {
        state.expiries.removeMin()
        // Skip entries left behind by a refresh or an unregister.
        guard let record = state.records[next.name], let deadline = record.expiration,
          deadline <= now
        else { continue }
        state.records[next.name] = nil
        removed.append(record)
        overflowed += state.publish(RecordEvent(record: record, deleted: true))
      }
      return (removed, overflowed)
    }
    finish(overflowed)
    return removed
  }

  private func finish(_ overflowed: [(Events.Continuation, Int)]) {
    for (continuation, bufferSize) in overflowed {
      continuation.finish(
        throwing: NSMError.resourceExhausted(
          "watch fell more than \(bufferSize) events behind and was closed; find again to re-sync"
        )
      )
    }
  }

  private static func matches(of query: Record, in records: [String: Record]) -> [Record] {
    // A query naming one record is a dictionary lookup, whatever the store's size.
    if !query.name.isEmpty {
      guard let record = records[query.name], record.matches(query: query) else { return [] }
      return [record]
    }
    return records.values.filter { $0.matches(query: query) }.sorted { $0.name < $1.name }
  }
}
