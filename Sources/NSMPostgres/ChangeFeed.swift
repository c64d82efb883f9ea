internal import DequeModule
internal import Foundation
internal import Logging
internal import NSMCore
internal import NSMStore
internal import PostgresNIO
public import ServiceLifecycle
internal import Synchronization

/// One replica's view of the change log: it LISTENs for `nsm_changes`, reads every change it
/// has not seen in commit order, and hands each to the watchers of this replica, so a change made
/// through any replica reaches every watcher.
///
/// Writers serialize on an advisory lock (``PostgresRecordStore``), so change numbers are
/// assigned in commit order and "everything up to N" is well defined. When the connection is lost
/// the feed reconnects and catches up from the last change it saw: open watches get what they
/// missed, in order, and never see a gap. Only when those changes have been pruned meanwhile
/// (down for longer than the retention) do the watches end with UNAVAILABLE, so clients re-sync.
public final class ChangeFeed: Service, Sendable {
  struct Change: Sendable {
    let seq: Int64
    let kind: String
    let deleted: Bool
    let record: [UInt8]
  }

  private struct State {
    var lastSeq: Int64 = 0
    var started = false
    /// Whether the LISTEN connection is up.
    var listening = false
    /// The latest changes, so a watch whose snapshot is a little older than the feed can be
    /// brought up to date without a new snapshot.
    var recent = Deque<Change>()
    /// Each record kind's watchers, by ``PostgresStorable/changeKind``.
    var watchers: [String: any KindWatchers] = [:]
  }

  static let channel = "nsm_changes"

  /// The newest change a snapshot includes: the log's newest entry, or what pruning removed.
  static let versionQuery: PostgresQuery = """
    SELECT GREATEST(coalesce((SELECT max(seq) FROM nsm_changes), 0),
                    (SELECT pruned_through FROM nsm_change_horizon WHERE id = 1))
    """
  static let recentLimit = 4096

  private let client: PostgresClient
  private let logger: Logger
  private let retention: Duration
  private let pruneInterval: Duration
  private let state = Mutex(State())
  private let wake: AsyncStream<Void>.Continuation
  private let wakeups: AsyncStream<Void>

  init(client: PostgresClient, retention: Duration, pruneInterval: Duration, logger: Logger) {
    self.client = client
    self.retention = retention
    self.pruneInterval = pruneInterval
    self.logger = logger
    (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  /// The longest one catch-up read may take.
  static var readDeadline: Duration { .seconds(5) }

  /// Whether the feed knows where the change log stands (watches wait for it).
  var isStarted: Bool { state.withLock { $0.started } }

  /// Whether it holds its LISTEN connection now (else it polls once a second).
  public var isListening: Bool { state.withLock { $0.listening } }

  public var watcherCount: Int {
    state.withLock { $0.watchers.values.reduce(0) { $0 + $1.count } }
  }

  /// Asks the feed to read new changes now (after a local commit, instead of waiting for NOTIFY).
  public func poke() {
    wake.yield()
  }

  public func run() async throws {
    do {
      try await start()
      try await feed()
    } catch is CancellationError {
      // Shutting down: the feed ends with the replica.
    }
  }

  private func feed() async throws {
    try await cancelWhenGracefulShutdown {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await self.listen() }
        group.addTask { try await self.tick() }
        for await _ in self.wakeups {
          do {
            // Bounded: a read stuck on a connection that died with the database would
            // otherwise stop the feed for good; the next wake-up (at most 1 s away) retries.
            try await withStoreDeadline(Self.readDeadline, operation: "reading the change log") {
              try await self.catchUp()
            }
          } catch is CancellationError {
            return
          } catch {
            self.logger.warning("reading the change log failed; retrying", metadata: ["error": "\(error)"])
          }
        }
      }
    }
  }

  /// Starts from the newest change: watches opened from now on take their initial state from
  /// the tables, so history before this point is never needed.
  private func start() async throws {
    var delay = Duration.milliseconds(100)
    while true {
      do {
        let newest = try await currentVersion()
        state.withLock {
          $0.lastSeq = newest
          $0.started = true
        }
        return
      } catch {
        logger.warning("cannot read the change log yet; retrying", metadata: ["error": "\(error)"])
        try await Task.sleep(for: delay)
        delay = min(delay * 2, .seconds(2))
      }
    }
  }

  private func listen() async throws {
    var delay = Duration.milliseconds(100)
    while !Task.isCancelled {
      do {
        try await client.withConnection { connection in
          try await connection.listen(on: Self.channel) { notifications in
            self.state.withLock { $0.listening = true }
            defer { self.state.withLock { $0.listening = false } }
            delay = .milliseconds(100)
            // Connected again: read whatever was missed while away.
            self.wake.yield()
            for try await _ in notifications { self.wake.yield() }
          }
        }
      } catch is CancellationError {
        return
      } catch {
        logger.warning("change notifications interrupted; reconnecting", metadata: ["error": "\(error)"])
      }
      try await Task.sleep(for: delay)
      delay = min(delay * 2, .seconds(2))
    }
  }

  /// A poll as a safety net (a NOTIFY is lost when the listening connection drops), and the
  /// pruning of changes older than the retention.
  private func tick() async throws {
    var ticks = 0
    let pruneEvery = max(1, Int(pruneInterval.components.seconds))
    while true {
      try await Task.sleep(for: .seconds(1))
      wake.yield()
      ticks += 1
      if ticks % pruneEvery == 0 {
        do { try await prune() } catch {
          // The log grows until pruning works again: an operator must hear of it.
          logger.warning("pruning the change log failed", metadata: ["error": "\(error)"])
        }
      }
    }
  }

  private func catchUp() async throws {
    while true {
      let after = state.withLock { $0.lastSeq }
      let horizon =
        try await firstValue(
          client.query("SELECT pruned_through FROM nsm_change_horizon WHERE id = 1"),
          as: Int64.self
        ) ?? 0
      if horizon > after {
        lostHistory(through: horizon)
        continue
      }
      var changes: [Change] = []
      let rows = try await client.query(
        "SELECT seq, kind, deleted, record FROM nsm_changes WHERE seq > \(after) ORDER BY seq LIMIT 1000"
      )
      for try await (seq, kind, deleted, record) in rows.decode((Int64, String, Bool, ByteBuffer).self) {
        changes.append(Change(seq: seq, kind: kind, deleted: deleted, record: Array(record.readableBytesView)))
      }
      if changes.isEmpty { return }
      deliver(changes)
      if changes.count < 1000 { return }
    }
  }

  private func deliver(_ changes: [Change]) {
    let finish = state.withLock { state in
      var finish = Finish.none
      for change in changes where change.seq > state.lastSeq {
        state.lastSeq = change.seq
        state.recent.append(change)
        if state.recent.count > Self.recentLimit { state.recent.removeFirst() }
        do {
          // A kind nobody watches on this replica has no entry: nothing to hand out.
          if let more = try state.watchers[change.kind]?.publish(change) { finish.append(more) }
        } catch {
          logger.error(
            "undecodable change in the change log",
            metadata: ["seq": "\(change.seq)", "kind": "\(change.kind)", "error": "\(error)"]
          )
        }
      }
      return finish
    }
    finish.run()
  }

  /// Changes this replica never saw were pruned: its watchers' views can no longer be brought
  /// up to date, so they end and their clients Find again.
  private func lostHistory(through horizon: Int64) {
    let error = NSMError.unavailable(
      "the registry lost track of changes while the database was unreachable; find again to re-sync"
    )
    let ended = state.withLock { state in
      state.lastSeq = horizon
      state.recent.removeAll()
      var ended = Finish.none
      for kind in state.watchers.keys { ended.append(state.watchers[kind]?.removeAll(failing: error) ?? .none) }
      return ended
    }
    logger.warning("change log pruned past this replica's position; open watches ended")
    ended.run()
  }

  private func prune() async throws {
    let seconds = Int64(retention.components.seconds)
    try await client.query(
      """
      WITH old AS (
        DELETE FROM nsm_changes WHERE at < now() - make_interval(secs => \(seconds)) RETURNING seq
      )
      UPDATE nsm_change_horizon SET pruned_through = GREATEST(pruned_through, (SELECT coalesce(max(seq), 0) FROM old))
      WHERE id = 1
      """
    )
  }

  /// The newest change number whose effects a snapshot taken now would include.
  func currentVersion() async throws -> Int64 {
    try await firstValue(client.query(Self.versionQuery), as: Int64.self) ?? 0
  }

  /// Adds a watcher whose initial state reflects every change up to `version`. Changes after it
  /// that this feed has already delivered are replayed from its recent history; nil when that
  /// history does not reach back far enough (the caller takes a new snapshot).
  func subscribe<Record: PostgresStorable>(
    _ query: Record,
    bufferSize: Int,
    version: Int64
  ) -> WatchSubscribers<Record>.Events? {
    let result = state.withLock {
      state -> (WatchSubscribers<Record>.Events, Int, WatchSubscribers<Record>.Events.Continuation)? in
      guard state.started else { return nil }
      let missed = max(0, state.lastSeq - version)
      if missed > 0, state.recent.count < missed { return nil }
      var replay: [RecordEvent<Record>] = []
      for change in state.recent where change.seq > version && change.kind == Record.changeKind {
        guard let record = try? Record(serializedBytes: change.record), record.matches(query: query) else {
          continue
        }
        replay.append(RecordEvent(record: record, deleted: change.deleted))
      }
      // More to replay than the watcher may buffer: a fresh snapshot is cheaper and exact.
      if replay.count >= bufferSize { return nil }
      // Taken out and put back, so the subscribers are mutated in place, not copied.
      var watchers = state.watchers.removeValue(forKey: Record.changeKind) as? Watchers<Record> ?? Watchers()
      let subscription = watchers.subscribers.add(
        query: query,
        bufferSize: bufferSize,
        startAfter: UInt64(max(version, state.lastSeq))
      )
      state.watchers[Record.changeKind] = watchers
      for event in replay { subscription.continuation.yield(event) }
      return (subscription.events, subscription.id, subscription.continuation)
    }
    guard let (events, id, continuation) = result else { return nil }
    // Not under the lock here: this runs inside the cancellation of the watcher's task, while
    // a publish may hold the lock and wait to resume that very task (a deadlock).
    continuation.onTermination = { [weak self] _ in
      Task { self?.state.withLock { $0.watchers[Record.changeKind]?.remove(id) } }
    }
    return events
  }
}

/// The first column of the first row, if any.
func firstValue<T: PostgresDecodable & Sendable>(_ rows: PostgresRowSequence, as type: T.Type) async throws -> T? {
  for try await value in rows.decode(T.self) { return value }
  return nil
}
