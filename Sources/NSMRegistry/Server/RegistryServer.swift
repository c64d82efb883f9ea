internal import GRPCCore
public import Logging
public import NSMAPI
public import NSMCore
public import NSMStore
public import NSMTransport
public import ServiceLifecycle

/// A domain registry: both NSM registry services on one gRPC server, over the given stores.
///
/// It is the `Service` that serves gRPC; ``services`` adds what runs beside it (expiry).
/// On graceful shutdown open watch streams end cleanly (status OK), in-flight calls finish,
/// and `run()` returns.
public final class RegistryServer<NSStore: RecordStore, NSEStore: RecordStore>: Service
where NSStore.Record == Registry_NetworkService, NSEStore.Record == Registry_NetworkServiceEndpoint {
  public let configuration: RegistryConfiguration
  public let networkServices: NSStore
  public let endpoints: NSEStore
  private let host: GRPCServerHost
  private let streams = ActiveStreams()
  private let logger: Logger
  /// Connections to other domains' registries.
  public let peers: PeerPool
  /// Calls forwarded to other domains, per peer.
  public let peerStatistics: PeerStatistics
  /// Policy denials, per rule.
  public let denials = DenialCounter()

  public init(
    configuration: RegistryConfiguration,
    networkServices: NSStore,
    endpoints: NSEStore,
    logger: Logger
  ) throws {
    self.configuration = configuration
    self.networkServices = networkServices
    self.endpoints = endpoints
    self.logger = logger

    let served = configuration.served
    try served.validate()
    let time = configuration.time
    let peers = PeerPool(
      logger: logger,
      identity: configuration.security.identity,
      limits: configuration.peerLimits,
      time: time
    )
    self.peers = peers
    peerStatistics = PeerStatistics(capacity: configuration.peerStatisticsCapacity)
    configuration.security.identity?.onReload { peers.retireAll() }
    let caller = PeerCaller(pool: peers, statistics: peerStatistics, time: time)
    let forwarder = configuration.federation.directory.map {
      RegistryForwarder(directory: $0, caller: caller, defaultTimeout: configuration.federation.forwardTimeout)
    }
    let federation = configuration.federation
    let nsChain = RegistryChain<Registry_NetworkService>([
      ValidateElement(),
      DefaultPayloadElement(),
      AuthorizeElement(served: served),
      FederationElement(served: served, configuration: federation, forwarder: forwarder),
      StoreElement(store: networkServices, watchBufferSize: configuration.watchBufferSize),
    ])
    let nseChain = RegistryChain<Registry_NetworkServiceEndpoint>([
      ValidateElement(),
      AuthorizeElement(served: served),
      FederationElement(served: served, configuration: federation, forwarder: forwarder),
      RegistrationTimeElement(),
      ExpireElement(period: configuration.expirePeriod),
      StoreElement(store: endpoints, watchBufferSize: configuration.watchBufferSize),
    ])

    let authorizer = CallAuthorizer(security: configuration.security, served: served, denials: denials)
    host = try GRPCServerHost(
      address: configuration.listen,
      identity: configuration.security.identity,
      limits: configuration.limits,
      services: [
        RegistryService(chain: nsChain, streams: streams, logger: logger, authorizer: authorizer, time: time),
        RegistryService(chain: nseChain, streams: streams, logger: logger, authorizer: authorizer, time: time),
      ]
    )
  }

  /// Everything a registry process runs, in start order; a `ServiceGroup` stops them in
  /// reverse, so the server drains before peer connections close and expiry stops.
  public var services: [any Service] {
    var services: [any Service] = [
      ExpiryReaper(store: endpoints, interval: configuration.reapInterval, time: configuration.time, logger: logger)
    ]
    if configuration.security.identity != nil || configuration.security.policy != nil {
      services.append(SecurityReloader(security: configuration.security, logger: logger))
    }
    return services + [peers, self]
  }

  /// The address the server listens on, once it does (resolves port 0).
  public var listeningAddress: ServiceAddress {
    get async throws { try await host.listeningAddress }
  }

  /// Client connections open now.
  public var connectionCount: Int { host.connectionCount }

  /// Open watch streams; tests use it to see that cancellation frees them.
  public var openStreamCount: Int { streams.count }

  public func run() async throws {
    let host = self.host
    let streams = self.streams
    let logger = self.logger
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await host.serve() }
        let address = try await self.listeningAddress
        var metadata: Logger.Metadata = [
          "address": "\(address)", "domain": "\(self.configuration.domain)",
          "expire-period": "\(GoDuration.format(self.configuration.expirePeriod))",
        ]
        let floating = self.configuration.federation.floatingDomains
        if !floating.isEmpty { metadata["floating-domains"] = "\(floating.joined(separator: ","))" }
        logger.info("registry listening", metadata: metadata)
      }
      logger.info("registry stopped")
    } onGracefulShutdown: {
      logger.info("registry shutting down: closing watch streams, finishing in-flight calls")
      streams.closeAll()
      host.beginGracefulShutdown()
    }
  }
}
