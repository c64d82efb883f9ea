internal import GRPCCore
public import Logging
internal import NSMAPI
internal import NSMAPIGRPC
internal import NSMCore
public import NSMTransport
internal import Synchronization

/// Watches the next hops of this hop's connections (upstream's monitor passthrough): when a
/// next hop reports one of them DOWN or deleted, or its monitor stream ends (the endpoint or
/// the other manager died), the connection turns DOWN here too, which is how a client learns
/// to heal.
///
/// One stream per next-hop address, whatever the number of connections through it.
public final class DownstreamMonitors: Sendable {
  private struct Watch {
    var connections: Set<String> = []
    var task: Task<Void, Never>?
    /// Bumped whenever the watch gains a connection, so a pending linger knows it is stale.
    var generation = 0
  }

  /// How long a stream stays open after its last connection left. Opening and cancelling one
  /// per short-lived connection would reset a stream per Close, and HTTP/2 servers (SwiftNIO
  /// among them) end a connection that resets streams too often (rapid-reset protection),
  /// taking every call on it down.
  public let linger: Duration

  public let name: String
  private let pool: PeerPool
  private let monitor: ConnectionMonitor
  private let identity: WorkloadIdentity?
  private let maxTokenLifetime: Duration
  private let logger: Logger
  private let watches = Mutex<[ServiceAddress: Watch]>([:])

  public init(
    name: String,
    pool: PeerPool,
    monitor: ConnectionMonitor,
    identity: WorkloadIdentity?,
    maxTokenLifetime: Duration,
    logger: Logger,
    linger: Duration = .seconds(30)
  ) {
    self.linger = linger
    self.name = name
    self.pool = pool
    self.monitor = monitor
    self.identity = identity
    self.maxTokenLifetime = maxTokenLifetime
    self.logger = logger
  }

  /// Feeds ``Routes``' changes: a connection routed to an address, or no longer routed.
  public func routeChanged(_ id: String, _ route: Route?) {
    var emptied: [(ServiceAddress, Int)] = []
    watches.withLock { watches in
      for (address, var watch) in watches where watch.connections.contains(id) && address != route?.hop.address {
        watch.connections.remove(id)
        if watch.connections.isEmpty { emptied.append((address, watch.generation)) }
        watches[address] = watch
      }
      guard let address = route?.hop.address else { return }
      var watch = watches[address] ?? Watch()
      watch.connections.insert(id)
      watch.generation += 1
      if watch.task == nil {
        watch.task = Task { await self.watch(address) }
      }
      watches[address] = watch
    }
    for (address, generation) in emptied {
      Task {
        try? await Task.sleep(for: linger)
        let stale = watches.withLock { watches -> Task<Void, Never>? in
          guard let watch = watches[address], watch.connections.isEmpty, watch.generation == generation else {
            return nil
          }
          watches[address] = nil
          return watch.task
        }
        stale?.cancel()
      }
    }
  }

  /// Next hops watched now.
  public var count: Int { watches.withLock { $0.count } }

  private func watch(_ address: ServiceAddress) async {
    var selector = Connection_MonitorScopeSelector()
    var segment = Connection_PathSegment()
    segment.name = name
    selector.pathSegments = [segment]
    do {
      try await pool.withConnection(to: address, caller: address.description) { connection in
        let metadata = try await ClientToken.metadata(
          identity: identity,
          peer: connection.peer,
          maxTokenLifetime: maxTokenLifetime,
          now: .now
        )
        let client = Connection_MonitorConnection.Client(wrapping: connection.grpc)
        do {
          try await client.monitorConnections(selector, metadata: metadata) { response in
            for try await event in response.messages { self.handle(event, from: address) }
          }
        } catch  where !Task.isCancelled {
          // The next hop died: its connection would wait out a reconnect back-off before it
          // reaches a restarted peer at the same address. Later calls open a fresh one.
          pool.retire(connection)
          throw error
        }
        // Ended by the next hop (it shut down): the same holds.
        if !Task.isCancelled { pool.retire(connection) }
      }
    } catch {
      if Task.isCancelled { return }
      logger.debug("next hop's monitor stream failed", metadata: ["address": "\(address)", "error": "\(error)"])
    }
    if Task.isCancelled { return }
    // The next hop is gone (or ended the stream): everything routed through it is DOWN.
    let lost = watches.withLock { $0.removeValue(forKey: address)?.connections ?? [] }
    if !lost.isEmpty {
      logger.info(
        "next hop lost; its connections are down",
        metadata: ["address": "\(address)", "connections": "\(lost.count)"]
      )
    }
    for id in lost { monitor.markDown(id) }
  }

  private func handle(_ event: Connection_ConnectionEvent, from address: ServiceAddress) {
    // The state transfer counts too (a connection already DOWN when the stream began); one
    // it lacks is not taken as gone, since a Request may have completed after it was taken.
    let tracked = watches.withLock { $0[address]?.connections ?? [] }
    for connection in event.connections.values where event.type == .delete || connection.state == .down {
      for segment in connection.path.pathSegments where segment.name == name && tracked.contains(segment.id) {
        monitor.markDown(segment.id)
      }
    }
  }
}
