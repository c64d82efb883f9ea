internal import Foundation
internal import GRPCCore
internal import Logging
internal import NSMCore
internal import NSMSecurity
internal import NSMStore
internal import NSMTransport
internal import Synchronization

/// A caller's watch of another domain: one upstream watch stream for this caller, translated as
/// it arrives. When the stream ends (peer restarted, connection lost) it reconnects with
/// back-off and re-syncs: the caller is sent what changed while it was away, deletes included.
///
/// Re-sync needs to know where a new stream's initial matches end; the forwarding metadata
/// asks the peer for a marker there (a response with an empty record). Every record of the
/// caller's view not among those initial matches was deleted meanwhile. A peer that sends no
/// marker (a Go NSM registry) still gets reconnects, but its deletes during an outage are
/// not seen, as upstream.
struct ForwardedWatch<Record: FederatedRecord>: Sendable {
  let forwarder: RegistryForwarder
  let domain: String
  /// Already stripped of `@domain`.
  let query: Record
  let context: RegistryContext
  let sink: FindSink<Record>

  static var initialBackoff: Duration { .milliseconds(100) }
  static var maxBackoff: Duration { .seconds(5) }

  /// The records the caller has been sent, by name, as it saw them.
  private final class View: Sendable {
    private let records = Mutex<[String: Record]>([:])
    private let told = Mutex(false)

    /// True the first time only: the caller hears about the first re-sync point, not later ones.
    func firstSync() -> Bool {
      told.withLock { told in
        defer { told = true }
        return !told
      }
    }

    /// Stores `record`; false when the caller already has exactly this.
    func put(_ record: Record) -> Bool {
      records.withLock { records in
        if records[record.name] == record { return false }
        records[record.name] = record
        return true
      }
    }

    func remove(_ name: String) -> Record? {
      records.withLock { $0.removeValue(forKey: name) }
    }

    /// Removes and returns every record not in `present`.
    func removeAll(except present: Set<String>) -> [Record] {
      records.withLock { records in
        let gone = records.values.filter { !present.contains($0.name) }
        for record in gone { records[record.name] = nil }
        return gone
      }
    }
  }

  /// How far one attempt got, for the back-off and the next attempt.
  private final class Progress: Sendable {
    private let state = Mutex((opened: false, synced: false))

    var opened: Bool { state.withLock { $0.opened } }
    var synced: Bool { state.withLock { $0.synced } }
    func open() { state.withLock { $0.opened = true } }
    func sync() { state.withLock { $0.synced = true } }
  }

  /// How one attempt ended: the peer ended the stream or the connection went. `synced` when it
  /// got as far as the end of the initial matches.
  private struct Outcome: Sendable {
    var synced: Bool
    var error: (any Error)?
  }

  func run() async throws {
    let view = View()
    let time = forwarder.caller.time
    var backoff = Self.initialBackoff
    var everConnected = false
    while !Task.isCancelled {
      let outcome: Outcome
      do {
        outcome = try await attempt(view: view)
      } catch {
        // Nothing reached on the first attempt: the caller hears it, as for any Find.
        if !everConnected || !Self.isRetryable(error) { throw error }
        outcome = Outcome(synced: false, error: error)
      }
      if Task.isCancelled { return }
      everConnected = true
      // The caller's tokens are what this watch presents to the peer; once they expire the
      // peer would refuse every reconnect, so the caller is told to open the watch again.
      if let expiry = context.authorization?.incomingExpiry, expiry <= time.date {
        throw NSMError(
          .unavailable,
          "the watch of domain '\(domain)' was lost after its path tokens expired; open it again"
        )
      }
      if outcome.synced { backoff = Self.initialBackoff }
      context.logger.info(
        "watch of domain '\(domain)' lost; reconnecting",
        metadata: [
          "domain": "\(domain)", "error": "\(outcome.error.map { "\($0)" } ?? "stream ended")", "in": "\(backoff)",
        ]
      )
      do {
        try await time.sleep(for: backoff)
      } catch {
        return
      }
      backoff = min(backoff * 2, Self.maxBackoff)
    }
  }

  /// One upstream stream, from the first address of the domain that takes it, until it ends.
  /// Throws when no address could be reached.
  private func attempt(view: View) async throws -> Outcome {
    let gateway = Record.reachedThroughGateway ? try await forwarder.directory.gatewayURL(of: domain) : nil
    let (query, domain, context, sink) = (self.query, self.domain, self.context, self.sink)
    return try await forwarder.call("\(Record.kind) watch", domain: domain, context: context, watch: true) { attempt in
      let progress = Progress()
      do {
        try await Record.find(
          query,
          watch: true,
          on: attempt.connection.grpc,
          options: attempt.options,
          metadata: attempt.metadata
        ) { answer, responses in
          // A secured peer proves itself before any of its events is passed on.
          try await attempt.verify(answer)
          progress.open()
          var initial: Set<String>? = []
          for try await response in responses {
            guard let event = Record.event(from: response) else {
              // The end of the initial matches: whatever the caller has beyond them is gone.
              for record in view.removeAll(except: initial ?? []) {
                try await sink(RecordEvent(record: record, deleted: true))
              }
              initial = nil
              progress.sync()
              if view.firstSync() { try await context.snapshotComplete?() }
              continue
            }
            let record = event.record.joined(domain: domain).arriving(gatewayURL: gateway)
            if event.deleted {
              if view.remove(record.name) != nil {
                try await sink(RecordEvent(record: record, deleted: true))
              }
            } else {
              initial?.insert(record.name)
              if view.put(record) { try await sink(RecordEvent(record: record, deleted: false)) }
            }
          }
        }
        context.logger.debug(
          "forwarded watch ended by the peer",
          metadata: ["domain": "\(domain)", "target": "\(attempt.connection.address)"]
        )
        return Outcome(synced: progress.synced, error: nil)
      } catch  where progress.opened && PeerCaller.code(of: error) != .cancelled {
        // Lost after it was open: reconnect, not the next address.
        context.logger.debug(
          "forwarded watch lost",
          metadata: ["domain": "\(domain)", "target": "\(attempt.connection.address)", "error": "\(error)"]
        )
        return Outcome(synced: progress.synced, error: error)
      }
    }
  }

  /// After a watch was established once, only an answer that retrying cannot change ends it.
  static func isRetryable(_ error: any Error) -> Bool {
    if error is CancellationError { return false }
    guard let code = PeerCaller.code(of: error) else { return true }
    let final: [RPCError.Code] = [
      .invalidArgument, .permissionDenied, .unauthenticated, .unimplemented, .failedPrecondition,
    ]
    return !final.contains(code)
  }
}
