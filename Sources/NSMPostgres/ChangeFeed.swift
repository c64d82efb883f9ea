internal import DequeModule
internal import Foundation
internal import Logging
internal import NSMCore
internal import NSMStore
internal import PostgresNIO
public import ServiceLifecycle
internal import Synchronization

/// One replica's view of the change log: it LISTENs for `nsm_changes`, reads every change it
/// has not seen, and hands each to the watchers of this replica, so a change made through any
/// replica reaches every watcher.
///
/// Writers share no lock, so change numbers are not in commit order: a change numbered 7 may
/// commit after one numbered 8. Each change records the transaction that wrote it, and the feed
/// reads in (transaction, number) order, only below the oldest transaction still running
/// (`pg_snapshot_xmin`): every transaction there has finished, so nothing can still appear
/// before the feed's position. Two writes of one name are numbered in their commit order (see
/// ``PostgresRecordStore``), so per name the feed's order is the commit order.
///
/// When the connection is lost the feed reconnects and catches up from its position: open
/// watches get what they missed, in order, and never see a gap. Only when those changes have been
/// pruned meanwhile (down for longer than the retention) do the watches end with UNAVAILABLE, so
/// clients re-sync.
public final class ChangeFeed: Service, Sendable {
  struct Change: Sendable {
    let seq: Int64
    /// The writing transaction.
    let tx: Int64
    let kind: String
    let deleted: Bool
    let record: [UInt8]
  }

  /// A place in the change log's (transaction, number) order: everything at or before it has
  /// been delivered.
  struct Position: Comparable, Sendable {
    var tx: Int64
    var seq: Int64

    /// Every change of every transaction before `xmin`.
    static func below(_ xmin: Int64) -> Position { Position(tx: xmin - 1, seq: .max) }

    static func < (lhs: Position, rhs: Position) -> Bool { (lhs.tx, lhs.seq) < (rhs.tx, rhs.seq) }
  }

  /// What each restart of the database server left behind: every transaction id at or below
  /// its bound was handed out before the restart; above it, ids may be handed out a second
  /// time (a crash forgets ids whose transactions wrote nothing durable), so a snapshot taken
  /// before the restart says nothing about them.
  final class Restarts: Sendable {
    private let bounds = Mutex<[Int64]>([])

    var count: Int { bounds.withLock { $0.count } }

    func record(_ bound: Int64) {
      bounds.withLock { $0.append(bound) }
    }

    /// The bound of the first restart after the first `epoch` ones, if there was one.
    func bound(after epoch: Int) -> Int64? {
      bounds.withLock { epoch < $0.count ? $0[epoch] : nil }
    }
  }

  private struct State {
    /// The last change delivered. Only ever a change read from the log, never a horizon: ids
    /// above the last durable one may be handed out again after a crash.
    var position = Position(tx: 0, seq: 0)
    /// When the database server last started (`pg_postmaster_start_time()`).
    var serverStart: String?
    /// Every change delivered whose transaction is at or above this one is in `recent`.
    var floor: Int64 = 0
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
  static let recentLimit = 4096
  static let readLimit = 1000

  private let client: PostgresClient
  private let logger: Logger
  private let retention: Duration
  private let pruneInterval: Duration
  private let state = Mutex(State())
  private let restarts = Restarts()
  private let wake: AsyncStream<Void>.Continuation
  private let wakeups: AsyncStream<Void>
  private let notify: AsyncStream<Void>.Continuation
  private let notifications: AsyncStream<Void>

  init(client: PostgresClient, retention: Duration, pruneInterval: Duration, logger: Logger) {
    self.client = client
    self.retention = retention
    self.pruneInterval = pruneInterval
    self.logger = logger
    (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    (notifications, notify) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
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

  /// After a local commit: this replica's feed reads it now, and the other replicas are told.
  ///
  /// The NOTIFY is not part of the write: a transaction that notifies takes a lock shared by
  /// the whole database at commit, which would serialize every write again (it cost a third
  /// of the write rate). One notification is sent at a time, each covering every commit made
  /// before it was sent; a replica that misses one reads the log at its next poll, a second
  /// later.
  func changed() {
    wake.yield()
    notify.yield()
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
        group.addTask { await self.tellOtherReplicas() }
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

  /// Starts after the last change below the oldest running transaction: watches opened from
  /// now on take their initial state from the tables, and their snapshots show everything
  /// before that point.
  private func start() async throws {
    var delay = Duration.milliseconds(100)
    while true {
      do {
        let rows = try await client.query(
          """
          WITH now AS (
            SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
                   pg_postmaster_start_time()::text AS started,
                   (SELECT pruned_tx FROM nsm_change_horizon WHERE id = 1) AS pruned
          )
          SELECT now.xmin, now.started, now.pruned, last.tx, last.seq
          FROM now LEFT JOIN LATERAL (
            SELECT tx, seq FROM nsm_changes WHERE tx < now.xmin ORDER BY tx DESC, seq DESC LIMIT 1
          ) last ON true
          """
        )
        for try await (xmin, started, pruned, tx, seq) in rows.decode((Int64, String, Int64, Int64?, Int64?).self) {
          state.withLock {
            $0.position = Swift.max(Position(tx: tx ?? 0, seq: seq ?? 0), .below(pruned + 1))
            $0.serverStart = started
            $0.floor = xmin
            $0.started = true
          }
        }
        return
      } catch {
        logger.warning("cannot read the change log yet; retrying", metadata: ["error": "\(error)"])
        try await Task.sleep(for: delay)
        delay = min(delay * 2, .seconds(2))
      }
    }
  }

  private func tellOtherReplicas() async {
    for await _ in notifications {
      do {
        // Bounded, like the reads: a pool that is shutting down never answers.
        _ = try await withStoreDeadline(Self.readDeadline, operation: "notifying the other replicas") {
          try await self.client.query("SELECT pg_notify(\(Self.channel), '')")
        }
      } catch {
        // The others poll once a second: late, not lost.
        logger.debug("notifying the other replicas failed", metadata: ["error": "\(error)"])
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
      let after = state.withLock { $0.position }
      // One statement, one snapshot: the horizon and the rows below it agree.
      let rows = try await client.execute(ReadStatement(after: after))
      var changes: [Change] = []
      var (pruned, started): (Int64, String) = (0, "")
      for try await (prunedTx, serverStart, seq, tx, kind, deleted, record) in rows {
        (pruned, started) = (prunedTx, serverStart)
        guard let seq, let tx, let kind, let deleted, let record else { continue }
        changes.append(Change(seq: seq, tx: tx, kind: kind, deleted: deleted, record: Array(record.readableBytesView)))
      }
      if state.withLock({ $0.serverStart != started }) {
        try await restarted(at: started)
        continue
      }
      // Pruning removed every change of the transactions up to `pruned`; some were not seen.
      if Position.below(pruned + 1) > after {
        lostHistory(through: pruned)
        continue
      }
      deliver(changes)
      if changes.count < Self.readLimit { return }
    }
  }

  /// The database server restarted (crashed, or was restarted) since the last read. The ids it
  /// hands out now may repeat ids that watches' snapshots from before the restart count as
  /// finished: from here on those snapshots vouch only for ids at or below the last one that
  /// was durable before the restart (the newest change begun before it).
  private func restarted(at started: String) async throws {
    let bound =
      try await firstValue(
        client.query(
          """
          SELECT GREATEST(
            coalesce((SELECT max(tx) FROM nsm_changes WHERE at < pg_postmaster_start_time()), 0),
            (SELECT pruned_tx FROM nsm_change_horizon WHERE id = 1))
          """
        ),
        as: Int64.self
      ) ?? 0
    state.withLock { state in
      restarts.record(bound)
      state.serverStart = started
      // Watches opened from now on have snapshots whose ids start above the bound.
      state.floor = min(state.floor, bound + 1)
    }
    logger.info("the database server restarted; open watches carry on", metadata: ["durable through": "\(bound)"])
  }

  /// Hands `changes` out in order and moves the position past them.
  private func deliver(_ changes: [Change]) {
    let finish = state.withLock { state in
      var finish = Finish.none
      for change in changes where Position(tx: change.tx, seq: change.seq) > state.position {
        state.position = Position(tx: change.tx, seq: change.seq)
        state.recent.append(change)
        if state.recent.count > Self.recentLimit, let evicted = state.recent.popFirst() {
          state.floor = max(state.floor, evicted.tx + 1)
        }
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
      state.position = .below(horizon + 1)
      state.floor = max(state.floor, horizon + 1)
      state.recent.removeAll()
      var ended = Finish.none
      for kind in state.watchers.keys { ended.append(state.watchers[kind]?.removeAll(failing: error) ?? .none) }
      return ended
    }
    logger.warning("change log pruned past this replica's position; open watches ended")
    ended.run()
  }

  /// Deletes the changes older than the retention, always every change of a transaction up to
  /// a bound, so that "pruned through transaction N" tells a replica exactly what it lost.
  private func prune() async throws {
    let seconds = Int64(retention.components.seconds)
    try await client.query(
      """
      WITH bound AS (
        SELECT max(tx) AS tx FROM nsm_changes
        WHERE at < now() - make_interval(secs => \(seconds))
          AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
      ), old AS (
        DELETE FROM nsm_changes WHERE tx <= (SELECT tx FROM bound) RETURNING tx
      )
      UPDATE nsm_change_horizon SET pruned_tx = GREATEST(pruned_tx, (SELECT max(tx) FROM old)) WHERE id = 1
      """
    )
  }

  /// Adds a watcher whose initial state was read in `snapshot`: it is sent, in the feed's order,
  /// exactly the changes of the transactions that snapshot does not show, the ones this feed
  /// already delivered from its recent history. Nil when that history does not reach back far
  /// enough (the caller takes a new snapshot).
  func subscribe<Record: PostgresStorable>(
    _ query: Record,
    bufferSize: Int,
    snapshot: XidSnapshot,
    serverStart: String
  ) -> WatchSubscribers<Record>.Events? {
    let restarts = self.restarts
    let result = state.withLock {
      state -> (WatchSubscribers<Record>.Events, Int, WatchSubscribers<Record>.Events.Continuation)? in
      // Delivered changes the snapshot may lack are those at or above its xmin: all must be
      // in the recent history.
      // A snapshot from a server start the feed has not seen yet (or no longer sees) waits
      // until the feed knows which ids it can vouch for.
      guard state.started, state.serverStart == serverStart, snapshot.xmin >= state.floor else { return nil }
      let epoch = restarts.count
      var replay: [RecordEvent<Record>] = []
      for change in state.recent where change.kind == Record.changeKind && !snapshot.shows(change.tx) {
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
        holds: { version in
          let xid = Int64(bitPattern: version)
          guard snapshot.shows(xid) else { return false }
          return restarts.bound(after: epoch).map { xid <= $0 } ?? true
        }
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

/// The feed's read of the log: the changes after a position and below the oldest running
/// transaction, with what pruning removed and when the server started. Prepared once per
/// connection: planning it took three quarters of its time (pg_stat_statements under a refresh
/// load: 2.5 s of planning and 0.9 s of execution for 10,195 reads).
struct ReadStatement: PostgresPreparedStatement {
  typealias Row = (Int64, String, Int64?, Int64?, String?, Bool?, ByteBuffer?)
  static var name: String { "nsm_read_changes" }
  static var sql: String {
    """
    WITH now AS (
      SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
             (SELECT pruned_tx FROM nsm_change_horizon WHERE id = 1) AS pruned,
             pg_postmaster_start_time()::text AS started
    )
    SELECT now.pruned, now.started, c.seq, c.tx, c.kind, c.deleted, c.record
    FROM now LEFT JOIN LATERAL (
      SELECT seq, tx, kind, deleted, record FROM nsm_changes
      WHERE (tx, seq) > ($1, $2) AND tx < now.xmin
      ORDER BY tx, seq LIMIT \(ChangeFeed.readLimit)
    ) c ON true
    """
  }
  let after: ChangeFeed.Position

  func makeBindings() -> PostgresBindings {
    var binds = PostgresBindings(capacity: 2)
    binds.append(after.tx)
    binds.append(after.seq)
    return binds
  }

  func decodeRow(_ row: PostgresRow) throws -> Row {
    try row.decode(Row.self)
  }
}

/// The first column of the first row, if any.
func firstValue<T: PostgresDecodable & Sendable>(_ rows: PostgresRowSequence, as type: T.Type) async throws -> T? {
  for try await value in rows.decode(T.self) { return value }
  return nil
}
