internal import GRPCCore
internal import GRPCNIOTransportHTTP2
public import Logging
internal import NSMCore
public import ServiceLifecycle
internal import Synchronization

/// One HTTP/2 connection per peer registry address, opened on first use and shared by every
/// call forwarded there. A `Service`: connections run inside it and close when it stops.
public final class PeerPool: Service, Sendable {
  private struct State {
    var clients: [ServiceAddress: RegistryClient] = [:]
    var closed = false
  }

  private let state = Mutex(State())
  private let opened: AsyncStream<RegistryClient>
  private let openedContinuation: AsyncStream<RegistryClient>.Continuation
  private let closed: AsyncStream<Void>
  private let closedContinuation: AsyncStream<Void>.Continuation
  private let logger: Logger

  /// How long open connections get to finish their calls once the pool closes.
  static var drainTime: Duration { .seconds(2) }

  public init(logger: Logger) {
    self.logger = logger
    (opened, openedContinuation) = AsyncStream.makeStream()
    (closed, closedContinuation) = AsyncStream.makeStream()
  }

  /// Peers with a connection (open or being re-established).
  public var peerCount: Int { state.withLock { $0.clients.count } }

  /// The shared client for `address`, created on first use.
  func client(for address: ServiceAddress) throws(NSMError) -> RegistryClient {
    let result: Result<RegistryClient, NSMError> = state.withLock { state in
      if let client = state.clients[address] { return .success(client) }
      if state.closed { return .failure(NSMError(.unavailable, "the registry is shutting down")) }
      do {
        let client = try Self.makeClient(address)
        state.clients[address] = client
        openedContinuation.yield(client)
        return .success(client)
      } catch {
        return .failure(NSMError(.internal, "cannot create a client for \(address): \(error)"))
      }
    }
    return try result.get()
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
      return Array(state.clients.values)
    }
    openedContinuation.finish()
    closedContinuation.finish()
    for client in clients { client.grpc.beginGracefulShutdown() }
  }
}
