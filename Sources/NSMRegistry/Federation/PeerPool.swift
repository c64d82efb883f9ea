internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import GRPCProtobuf
public import Logging
internal import NSMCore
public import ServiceLifecycle
internal import SwiftProtobuf
internal import Synchronization

/// One HTTP/2 connection per peer registry address, opened on first use and shared by every
/// call forwarded there. A `Service`: connections run inside it and close when it stops.
public final class PeerPool: Service, Sendable {
  /// The identity a peer proved in its TLS handshake; empty until one completed.
  final class PeerBox: Sendable {
    private let peer = Mutex<WorkloadIdentity.Peer?>(nil)
    var value: WorkloadIdentity.Peer? { peer.withLock { $0 } }
    func set(_ value: WorkloadIdentity.Peer) { peer.withLock { $0 = value } }
  }

  private struct Entry {
    let client: RegistryClient
    let peer: PeerBox
    /// Calls and watches using it now.
    var active = 0
    var lastUsed: ContinuousClock.Instant
  }

  private struct State {
    var entries: [ServiceAddress: Entry] = [:]
    var closed = false
  }

  private let state = Mutex(State())
  private let opened: AsyncStream<RegistryClient>
  private let openedContinuation: AsyncStream<RegistryClient>.Continuation
  private let closed: AsyncStream<Void>
  private let closedContinuation: AsyncStream<Void>.Continuation
  private let logger: Logger
  /// A connection nobody used for this long is closed; the next call opens a new one.
  public let idleTimeout: Duration
  /// At most this many peers at once: callers name the addresses (`x@host:port`), so the pool
  /// must not grow without bound.
  public let maxPeers: Int

  /// How long open connections get to finish their calls once the pool closes.
  static var drainTime: Duration { .seconds(2) }

  /// mTLS with this identity; nil for plaintext.
  let identity: WorkloadIdentity?

  public init(
    logger: Logger,
    identity: WorkloadIdentity? = nil,
    idleTimeout: Duration = .seconds(60),
    maxPeers: Int = 512
  ) {
    self.logger = logger
    self.identity = identity
    self.idleTimeout = idleTimeout
    self.maxPeers = maxPeers
    (opened, openedContinuation) = AsyncStream.makeStream()
    (closed, closedContinuation) = AsyncStream.makeStream()
  }

  /// Peers with a connection (open or being re-established).
  public var peerCount: Int { state.withLock { $0.entries.count } }

  /// Runs `body` with the shared client for `address`, created on first use, and the peer's
  /// identity (nil on plaintext); while it runs the connection is not closed for idleness.
  func withClient<Result>(
    for address: ServiceAddress,
    _ body: (RegistryClient, WorkloadIdentity.Peer?) async throws -> Result
  ) async throws -> Result {
    let (client, box) = try acquire(address)
    defer { release(address) }
    var peer: WorkloadIdentity.Peer?
    if identity != nil {
      peer = try await Self.identify(client, box)
    }
    return try await body(client, peer)
  }

  /// The peer's SPIFFE ID is needed before the first call (its path token names it as
  /// audience), but gRPC opens the connection with the first call. So the first use of a
  /// connection sends one call to a method no registry has: the handshake completes, the
  /// verification callback records the peer, and the answer (UNIMPLEMENTED) is ignored.
  static func identify(_ client: RegistryClient, _ box: PeerBox) async throws -> WorkloadIdentity.Peer {
    try await identify(client.grpc, box)
  }

  static func identify(_ grpc: GRPCClient<HTTP2ClientTransport.Posix>, _ box: PeerBox) async throws
    -> WorkloadIdentity.Peer
  {
    if let peer = box.value { return peer }
    var options = CallOptions.defaults
    options.timeout = .seconds(5)
    do {
      try await grpc.unary(
        request: ClientRequest(message: Google_Protobuf_Empty()),
        descriptor: MethodDescriptor(fullyQualifiedService: "nsm.swift.Probe", method: "Identify"),
        serializer: ProtobufSerializer<Google_Protobuf_Empty>(),
        deserializer: ProtobufDeserializer<Google_Protobuf_Empty>(),
        options: options
      ) { _ in }
    } catch {
      // Any answer will do (UNIMPLEMENTED from a registry): the handshake is what was wanted.
    }
    guard let peer = box.value else {
      throw RPCError(code: .unavailable, message: "the peer's TLS handshake did not complete")
    }
    return peer
  }

  private func acquire(_ address: ServiceAddress) throws(NSMError) -> (RegistryClient, PeerBox) {
    let now = ContinuousClock.now
    let result: Result<(RegistryClient, PeerBox), NSMError> = state.withLock { state in
      if state.closed { return .failure(NSMError(.unavailable, "the registry is shutting down")) }
      if var entry = state.entries[address] {
        entry.active += 1
        entry.lastUsed = now
        state.entries[address] = entry
        return .success((entry.client, entry.peer))
      }
      guard state.entries.count < maxPeers else {
        return .failure(NSMError(.unavailable, "too many peer registries in use (\(maxPeers)); try again later"))
      }
      do {
        let box = PeerBox()
        let client = try Self.makeClient(address, identity: identity, box: box)
        state.entries[address] = Entry(client: client, peer: box, active: 1, lastUsed: now)
        openedContinuation.yield(client)
        return .success((client, box))
      } catch {
        return .failure(NSMError(.internal, "cannot create a client for \(address): \(error)"))
      }
    }
    return try result.get()
  }

  private func release(_ address: ServiceAddress) {
    let now = ContinuousClock.now
    state.withLock { state in
      state.entries[address]?.active -= 1
      state.entries[address]?.lastUsed = now
    }
  }

  /// Closes the connection to `address` (calls on it finish); the next call opens a new one.
  func retire(_ address: ServiceAddress) {
    let entry = state.withLock { $0.entries.removeValue(forKey: address) }
    entry?.client.grpc.beginGracefulShutdown()
  }

  /// Closes every connection: after this registry's SVID rotated, new calls must present the
  /// new certificate, whose key signs their tokens.
  public func retireAll() {
    let entries = state.withLock { state in
      defer { state.entries = [:] }
      return Array(state.entries.values)
    }
    for entry in entries { entry.client.grpc.beginGracefulShutdown() }
  }

  /// Closes connections idle for longer than ``idleTimeout``.
  func closeIdle(now: ContinuousClock.Instant = .now) {
    let idle = state.withLock { state in
      let idle = state.entries.filter { $0.value.active == 0 && now - $0.value.lastUsed >= idleTimeout }
      for address in idle.keys { state.entries[address] = nil }
      return idle
    }
    for (address, entry) in idle {
      logger.debug("closing idle peer connection", metadata: ["target": "\(address)"])
      entry.client.grpc.beginGracefulShutdown()
    }
  }

  private static func makeClient(_ address: ServiceAddress, identity: WorkloadIdentity?, box: PeerBox) throws
    -> RegistryClient
  {
    var config = HTTP2ClientTransport.Posix.Config.defaults
    // A restarted peer should be reached again within seconds, not the two minutes gRPC's
    // default back-off grows to; keepalive notices a peer that vanished under an idle watch.
    config.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
    config.connection.keepalive = .init(time: .seconds(30), timeout: .seconds(10), allowWithoutCalls: false)
    let transport = try HTTP2ClientTransport.Posix(
      target: address.clientTarget,
      transportSecurity: try identity?.clientSecurity(remember: { box.set($0) }) ?? .plaintext,
      config: config
    )
    return RegistryClient(grpc: GRPCClient(transport: transport))
  }

  public func run() async throws {
    let opened = self.opened
    let closed = self.closed
    let logger = self.logger
    await withGracefulShutdownHandler {
      await withTaskGroup(of: Void.self) { race in
        race.addTask {
          await withDiscardingTaskGroup { group in
            for await client in opened {
              group.addTask {
                do {
                  try await client.grpc.runConnections()
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
          while (try? await Task.sleep(for: .seconds(10))) != nil { self.closeIdle() }
        }
        await race.next()
        race.cancelAll()
      }
    } onGracefulShutdown: {
      self.close()
    }
  }

  private func close() {
    let clients = state.withLock { state in
      state.closed = true
      return state.entries.values.map(\.client)
    }
    openedContinuation.finish()
    closedContinuation.finish()
    for client in clients { client.grpc.beginGracefulShutdown() }
  }
}
