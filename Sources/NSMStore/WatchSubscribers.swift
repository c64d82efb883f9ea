public import NSMCore

/// The open watches of one store: who wants which records, each with a bounded buffer.
///
/// A plain value that lives inside the store's locked state, so a store publishes and opens
/// watches under the same lock as its writes and watchers see changes in commit order.
/// Finishing a stream runs its termination handler, which takes that lock again, so what must be
/// finished comes back as ``Overflowed`` to be finished after the lock is released.
public struct WatchSubscribers<Record: RegistryRecord>: Sendable {
  public typealias Events = AsyncThrowingStream<RecordEvent<Record>, any Error>

  private struct Subscriber {
    let query: Record
    let bufferSize: Int
    let continuation: Events.Continuation
    /// Whether the watcher's initial state already holds the change of a given version.
    let holds: (@Sendable (UInt64) -> Bool)?
  }

  /// Streams to end; call ``finish()`` once the store's lock is released.
  public struct Overflowed: Sendable {
    fileprivate var streams: [(continuation: Events.Continuation, error: NSMError)] = []

    public static var none: Overflowed { Overflowed() }

    public mutating func append(_ other: Overflowed) {
      streams += other.streams
    }

    public func finish() {
      for (continuation, error) in streams { continuation.finish(throwing: error) }
    }
  }

  private var subscribers: [Int: Subscriber] = [:]
  private var nextID = 0

  public init() {}

  public var count: Int { subscribers.count }

  /// Registers a watcher; the caller sets the continuation's `onTermination` to ``remove(_:)``
  /// the returned id (outside the lock). `holds` tells, for a versioned store, whether the
  /// watcher's initial state already reflects the change of a version: ``publish(_:version:)``
  /// does not send it such a change again.
  public mutating func add(
    query: Record,
    bufferSize: Int,
    holds: (@Sendable (UInt64) -> Bool)? = nil
  ) -> (id: Int, events: Events, continuation: Events.Continuation) {
    let (events, continuation) = Events.makeStream(bufferingPolicy: .bufferingOldest(max(1, bufferSize)))
    let id = nextID
    nextID += 1
    subscribers[id] = Subscriber(
      query: query,
      bufferSize: bufferSize,
      continuation: continuation,
      holds: holds
    )
    return (id, events, continuation)
  }

  public mutating func remove(_ id: Int) {
    subscribers[id] = nil
  }

  /// Hands `event` to every watcher whose query it matches (and, for a versioned store, whose
  /// initial state does not already hold it). A watcher whose buffer is full is
  /// removed and returned, to end with RESOURCE_EXHAUSTED after what it has buffered.
  public mutating func publish(_ event: RecordEvent<Record>, version: UInt64 = .max) -> Overflowed {
    var overflowed = Overflowed()
    for (id, subscriber) in subscribers
    where subscriber.holds?(version) != true && event.record.matches(query: subscriber.query) {
      switch subscriber.continuation.yield(event) {
      case .enqueued:
        continue
      case .dropped:
        subscribers[id] = nil
        overflowed.streams.append(
          (
            subscriber.continuation,
            .resourceExhausted(
              "watch fell more than \(subscriber.bufferSize) events behind and was closed; find again to re-sync"
            )
          )
        )
      case .terminated:
        subscribers[id] = nil
      @unknown default:
        subscribers[id] = nil
      }
    }
    return overflowed
  }

  /// Removes every watcher, to end each with `error` (a store that can no longer vouch for
  /// what its watchers have seen).
  public mutating func removeAll(failing error: NSMError) -> Overflowed {
    var ended = Overflowed()
    for subscriber in subscribers.values { ended.streams.append((subscriber.continuation, error)) }
    subscribers = [:]
    return ended
  }
}
