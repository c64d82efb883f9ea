internal import GRPCCore
internal import GRPCNIOTransportHTTP2
public import Logging
internal import NSMCore
public import ServiceLifecycle
internal import Synchronization

/// One HTTP/2 connection per peer registry address, opened on first use and shared by every
/// call forwarded there. A `Service`: connections run inside it and close when it stops.
public final class PeerPool: Service, Sendable {
  private struct Entry {
    let client: RegistryClient
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

  public init(logger: Logger, idleTimeout: Duration = .seconds(60), maxPeers: Int = 512) {
    self.logger = logger
    self.idleTimeout = idleTimeout
    self.maxPeers = maxPeers
    (opened, openedContinuation) = AsyncStream.makeStream()
    (closed, closedContinuation) = AsyncStream.makeStream()
  }

  /// Peers with a connection (open or being re-established).
  public var peerCount: Int { state.withLock { $0.entries.count } }

  /// Runs `body` with the shared client for `address`, created on first use; while it runs the
  /// connection is not closed for idleness.
  func withClient<Result>(
    for address: ServiceAddress,
    _ body: (RegistryClient) async throws -> Result
  ) async throws -> Result {
    let client = try acquire(address)
    defer { release(address) }
    return try await body(client)
  }

  private func acquire(_ address: ServiceAddress) throws(NSMError) -> RegistryClient {
    let now = ContinuousClock.now
    let result: Result<RegistryClient, NSMError> = state.withLock { state in
      if state.closed { return .failure(NSMError(.unavailable, "the registry is shutting down")) }
      if var entry = state.entries[address] {
        entry.active += 1
        entry.lastUsed = now
        state.entries[address] = entry
        return .success(entry.client)
      }
      guard state.entries.count < maxPeers else {
        return .failure(NSMError(.unavailable, "too many peer registries in use (\(maxPeers)); try again later"))
      }
      do {
        let client = try Self.makeClient(address)
        state.entries[address] = Entry(client: client, active: 1, lastUsed: now)
        openedContinuation.yield(client)
        return .success(client)
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

  private static func makeClient(_ address: ServiceAddress) throws -> RegistryClient {
    var config = HTTP2ClientTransport.Posix.Config.defaults
    // A restarted peer should be reached again within seconds, not the two minutes gRPC's
    // default back-off grows to; keepalive notices a peer that vanished under an idle watch.
    config.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
    config.connection.keepalive = .init(time: .seconds(30), timeout: .seconds(10), allowWithoutCalls: false)
    let transport = try HTTP2ClientTransport.Posix(
      target: address.clientTarget,
      transportSecurity: .plaintext,
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
