public import GRPCCore
public import Logging
public import NSMCore
public import NSMTransport

/// What every hop of the Network Service API (manager, endpoint, gateway) builds from the same
/// few settings: the pool of connections to next hops, the monitor of its connections, the
/// routes it took (followed by ``DownstreamMonitors``, so a change downstream reaches its
/// callers), the caller of next hops, and the head of its chain (``hopBase(name:identity:maxTokenLifetime:monitor:time:)``).
public struct HopParts: Sendable {
  public let name: String
  public let identity: WorkloadIdentity?
  public let maxTokenLifetime: Duration
  public let time: any TimeSource
  public let pool: PeerPool
  public let monitor: ConnectionMonitor
  public let routes: Routes
  public let caller: NextHopCaller

  public init(
    name: String,
    identity: WorkloadIdentity?,
    maxTokenLifetime: Duration,
    peerLimits: PeerPool.Limits = PeerPool.Limits(),
    time: any TimeSource,
    logger: Logger
  ) {
    self.name = name
    self.identity = identity
    self.maxTokenLifetime = maxTokenLifetime
    self.time = time
    let pool = PeerPool(logger: logger, identity: identity, limits: peerLimits, time: time)
    let monitor = ConnectionMonitor()
    let downstream = DownstreamMonitors(
      name: name,
      pool: pool,
      monitor: monitor,
      identity: identity,
      maxTokenLifetime: maxTokenLifetime,
      logger: logger
    )
    self.pool = pool
    self.monitor = monitor
    routes = Routes { downstream.routeChanged($0, $1) }
    caller = NextHopCaller(pool: pool, identity: identity, maxTokenLifetime: maxTokenLifetime, time: time)
  }

  /// The head of the hop's chain: path, serialization, tokens, authorization, expiry, monitor.
  public func base() -> some ConnectElement {
    hopBase(name: name, identity: identity, maxTokenLifetime: maxTokenLifetime, monitor: monitor, time: time)
  }

  /// A client of `address` whose calls carry this hop's path tokens (its registry, or its
  /// manager).
  public func client(for address: ServiceAddress) throws -> GRPCClient<PeerTransport> {
    var factory = ClientFactory(identity: identity)
    factory.pathTokens = true
    factory.maxTokenLifetime = maxTokenLifetime
    return try factory.client(for: address)
  }
}
