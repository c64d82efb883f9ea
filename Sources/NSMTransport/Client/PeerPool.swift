public import GRPCCore
public import GRPCNIOTransportHTTP2
public import Logging
public import NSMCore
public import ServiceLifecycle
internal import Synchronization

/// HTTP/2 connections to peers (other domains' registries and gateways), opened on first use
/// and shared by every call to the same address. A `Service`: connections run inside it and
/// close when it stops.
///
/// Callers choose the addresses (`name@host:port`), so the pool defends itself:
/// - only peers that answered count against ``Limits/maxPeers``; a connection that cannot be
///   established within ``Limits/connectTimeout`` is dropped at once;
/// - connections still being established are capped in all and per caller, so one caller
///   naming dead or silent addresses cannot crowd out the peers everyone else uses;
/// - a connection carries at most ``Limits/streamsPerConnection`` calls at once: a peer's
///   SETTINGS_MAX_CONCURRENT_STREAMS (never below 100, RFC 9113 §6.5.2's recommendation)
///   would otherwise queue the rest silently behind long-lived watches; more connections are
///   opened instead.
public final class PeerPool: Service, Sendable {
  public struct Limits: Sendable {
    /// A connection nobody used for this long is closed; the next call opens a new one.
    public var idleTimeout: Duration = .seconds(60)
    /// Peers (addresses with an established connection) at once.
    public var maxPeers = 512
    /// Connections being established at once, over all callers.
    public var maxConnecting = 256
    /// Connections being established at once for one caller.
    public var maxConnectingPerCaller = 32
    /// Calls sharing one connection.
    public var streamsPerConnection = 100
    /// Connections to one address.
    public var maxConnectionsPerPeer = 16
    /// How long a new connection gets to complete its handshakes.
    public var connectTimeout: Duration = .seconds(10)

    public init() {}
  }

  private struct Slot {
    let connection: PeerConnection
    let caller: String
    var active = 0
    var lastUsed: ContinuousClock.Instant
    /// False until the handshake completed; then counted as a peer.
    var ready = false
    /// Taken out of service (rotation, failure): no new calls; closed when the last ends.
    var retired = false
    /// Calls waiting for the handshake that another call started.
    var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
  }

  private struct State {
    var slots: [Int: Slot] = [:]
    var nextID = 0
    var closed = false

    var connectingCount: Int { slots.values.count { !$0.ready && !$0.retired } }
    func connectingCount(caller: String) -> Int {
      slots.values.count { !$0.ready && !$0.retired && $0.caller == caller }
    }
    var peers: Set<ServiceAddress> {
      Set(slots.values.lazy.filter { $0.ready && !$0.retired }.map(\.connection.address))
    }
  }

  private let state = Mutex(State())
  private let opened: AsyncStream<PeerConnection>
  private let openedContinuation: AsyncStream<PeerConnection>.Continuation
  private let closed: AsyncStream<Void>
  private let closedContinuation: AsyncStream<Void>.Continuation
  private let logger: Logger
  private let factory: ClientFactory
  private let time: any TimeSource
  public let limits: Limits

  /// How long open connections get to finish their calls once the pool closes.
  static var drainTime: Duration { .seconds(2) }

  public init(
    logger: Logger,
    identity: WorkloadIdentity? = nil,
    limits: Limits = Limits(),
    time: any TimeSource = SystemTime()
  ) {
    self.logger = logger
    self.factory = ClientFactory(identity: identity)
    self.limits = limits
    self.time = time
    (opened, openedContinuation) = AsyncStream.makeStream()
    (closed, closedContinuation) = AsyncStream.makeStream()
  }

  /// Whether connections are mTLS (peers then have an identity).
  public var isSecured: Bool { factory.identity != nil }

  /// Peers with an established connection.
  public var peerCount: Int { state.withLock { $0.peers.count } }

  /// Connections held, established or not (retired ones still finishing included).
  public var connectionCount: Int { state.withLock { $0.slots.count } }

  /// Runs `body` on a connection to `address` that is established (its handshakes done, the
  /// peer identified with mTLS) and has room for one more call. `caller` names who the call is
  /// made for (a SPIFFE ID, or the client's host), for the per-caller bound.
  public func withConnection<Result>(
    to address: ServiceAddress,
    caller: String,
    _ body: (PeerConnection) async throws -> Result
  ) async throws -> Result {
    let (id, connection, mustConnect) = try acquire(address, caller: caller)
    defer { release(id) }
    if mustConnect {
      try await establish(id, connection)
    } else {
      try await waitUntilReady(id)
    }
    return try await body(connection)
  }

  private func acquire(_ address: ServiceAddress, caller: String) throws(NSMError) -> (Int, PeerConnection, Bool) {
    let now = time.now
    let result: Result<(Int, PeerConnection, Bool), NSMError> = state.withLock { state in
      if state.closed { return .failure(NSMError(.unavailable, "shutting down")) }
      let usable = state.slots.filter {
        $0.value.connection.address == address && !$0.value.retired && $0.value.active < limits.streamsPerConnection
      }
      // The established connection with the most room, else one still connecting.
      if let (id, _) = usable.filter({ $0.value.ready }).min(by: { $0.value.active < $1.value.active })
        ?? usable.first
      {
        state.slots[id]!.active += 1
        state.slots[id]!.lastUsed = now
        return .success((id, state.slots[id]!.connection, false))
      }
      let existing = state.slots.values.filter { $0.connection.address == address && !$0.retired }
      if existing.isEmpty && state.peers.count >= limits.maxPeers {
        return .failure(
          NSMError(.resourceExhausted, "too many peers in use (\(limits.maxPeers)); try again later")
        )
      }
      if existing.count >= limits.maxConnectionsPerPeer {
        return .failure(
          NSMError(
            .resourceExhausted,
            "\(existing.count) connections to \(address) carry \(limits.streamsPerConnection) calls each already"
          )
        )
      }
      if state.connectingCount >= limits.maxConnecting {
        return .failure(
          NSMError(.resourceExhausted, "too many peer connections being established (\(limits.maxConnecting))")
        )
      }
      if state.connectingCount(caller: caller) >= limits.maxConnectingPerCaller {
        return .failure(
          NSMError(
            .resourceExhausted,
            "too many peer connections being established for \(caller) (\(limits.maxConnectingPerCaller))"
          )
        )
      }
      do {
        let box = PeerIdentityBox()
        let grpc = try factory.client(for: address, box: box)
        let connection = PeerConnection(address: address, grpc: grpc, identity: box)
        let id = state.nextID
        state.nextID += 1
        state.slots[id] = Slot(connection: connection, caller: caller, active: 1, lastUsed: now)
        openedContinuation.yield(connection)
        return .success((id, connection, true))
      } catch {
        return .failure(NSMError(.internal, "cannot create a client for \(address): \(error)"))
      }
    }
    return try result.get()
  }

  /// The handshake, by the call that opened the connection. A connection that fails it is
  /// dropped at once, and every call waiting for it gets the reason.
  private func establish(_ id: Int, _ connection: PeerConnection) async throws {
    do {
      try await ConnectionProbe.connect(
        connection.grpc,
        identity: isSecured ? connection.identity : nil,
        timeout: limits.connectTimeout
      )
    } catch {
      let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
        state.slots[id]?.retired = true
        defer { state.slots[id]?.waiters = [:] }
        return Array(state.slots[id]?.waiters.values ?? [:].values)
      }
      connection.grpc.beginGracefulShutdown()
      logger.debug("peer connection failed", metadata: ["target": "\(connection.address)", "error": "\(error)"])
      for waiter in waiters { waiter.resume(throwing: error) }
      throw error
    }
    let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
      state.slots[id]?.ready = true
      defer { state.slots[id]?.waiters = [:] }
      return Array(state.slots[id]?.waiters.values ?? [:].values)
    }
    for waiter in waiters { waiter.resume() }
  }

  private func waitUntilReady(_ id: Int) async throws {
    let waiterID = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let outcome = state.withLock { state -> Result<Void, any Error>? in
          guard let slot = state.slots[id] else {
            return .failure(RPCError(code: .unavailable, message: "the connection was closed"))
          }
          if slot.ready { return .success(()) }
          if slot.retired { return .failure(RPCError(code: .unavailable, message: "the connection failed")) }
          if Task.isCancelled { return .failure(CancellationError()) }
          state.slots[id]!.waiters[waiterID] = continuation
          return nil
        }
        if let outcome { continuation.resume(with: outcome) }
      }
    } onCancel: {
      state.withLock { $0.slots[id]?.waiters.removeValue(forKey: waiterID) }?.resume(throwing: CancellationError())
    }
  }

  private func release(_ id: Int) {
    let now = time.now
    let finished = state.withLock { state -> PeerConnection? in
      guard var slot = state.slots[id] else { return nil }
      slot.active -= 1
      slot.lastUsed = now
      if slot.retired && slot.active == 0 {
        state.slots[id] = nil
        return slot.connection
      }
      state.slots[id] = slot
      return nil
    }
    finished?.grpc.beginGracefulShutdown()
  }

  /// Takes `connection` out of service: calls on it finish, new calls open another. For a
  /// connection that holds a peer's old certificate (the peer rotated its SVID) or hangs.
  public func retire(_ connection: PeerConnection) {
    retire { $0 === connection }
  }

  /// Retires every connection: after this workload's SVID rotated, new calls must present the
  /// new certificate, whose key signs their tokens.
  public func retireAll() {
    retire { _ in true }
  }

  private func retire(where matches: (PeerConnection) -> Bool) {
    let idle = state.withLock { state -> [PeerConnection] in
      var idle: [PeerConnection] = []
      for (id, slot) in state.slots where matches(slot.connection) && !slot.retired {
        state.slots[id]!.retired = true
        if slot.active == 0 {
          state.slots[id] = nil
          idle.append(slot.connection)
        }
      }
      return idle
    }
    // Calls in flight keep their connection until they end (release closes it then).
    for connection in idle { connection.grpc.beginGracefulShutdown() }
  }

  /// Closes connections idle for longer than ``Limits/idleTimeout``.
  func closeIdle() {
    let now = time.now
    let idle = state.withLock { state in
      let idle = state.slots.filter { $0.value.active == 0 && now - $0.value.lastUsed >= limits.idleTimeout }
      for id in idle.keys { state.slots[id] = nil }
      return idle.values.map(\.connection)
    }
    for connection in idle {
      logger.debug("closing idle peer connection", metadata: ["target": "\(connection.address)"])
      connection.grpc.beginGracefulShutdown()
    }
  }

  public func run() async throws {
    let opened = self.opened
    let closed = self.closed
    let logger = self.logger
    await withGracefulShutdownHandler {
      await withTaskGroup(of: Void.self) { race in
        race.addTask {
          await withDiscardingTaskGroup { group in
            for await connection in opened {
              group.addTask {
                do {
                  try await connection.grpc.runConnections()
                } catch {
                  logger.warning("peer connection ended: \(error)")
                }
              }
            }
          }
        }
        // Once closed, calls in flight get a moment to finish. A connection still trying to
        // reach a peer that accepted TCP but never speaks would hold shutdown forever.
        race.addTask {
          for await _ in closed {}
          try? await Task.sleep(for: Self.drainTime)
        }
        race.addTask {
          let interval = min(.seconds(10), self.limits.idleTimeout)
          while (try? await self.time.sleep(for: interval)) != nil { self.closeIdle() }
        }
        await race.next()
        race.cancelAll()
      }
    } onGracefulShutdown: {
      self.close()
    }
  }

  private func close() {
    let connections = state.withLock { state in
      state.closed = true
      return state.slots.values.map(\.connection)
    }
    openedContinuation.finish()
    closedContinuation.finish()
    for connection in connections { connection.grpc.beginGracefulShutdown() }
  }
}

/// One HTTP/2 connection of a ``PeerPool``.
public final class PeerConnection: Sendable {
  public let address: ServiceAddress
  public let grpc: GRPCClient<HTTP2ClientTransport.Posix>
  let identity: PeerIdentityBox

  init(address: ServiceAddress, grpc: GRPCClient<HTTP2ClientTransport.Posix>, identity: PeerIdentityBox) {
    self.address = address
    self.grpc = grpc
    self.identity = identity
  }

  /// The identity the peer proved in the TLS handshake; nil on plaintext.
  public var peer: WorkloadIdentity.Peer? { identity.value }
}
