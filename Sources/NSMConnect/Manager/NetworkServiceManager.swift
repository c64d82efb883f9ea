internal import GRPCCore
public import Logging
internal import NSMAPI
public import NSMCore
public import NSMDataplane
internal import NSMRegistry
public import NSMTransport
public import ServiceLifecycle

/// `nsm manager`: one node's Network Service Manager (upstream's nsmgr, with its forwarder's
/// role in the control plane). Workloads of the node request connections from it and register
/// through it; it selects endpoints by the network service's matches and reaches them
/// directly or through the manager of their node.
public final class NetworkServiceManager: Service {
  public let configuration: ManagerConfiguration
  public let monitor: ConnectionMonitor
  public let routing: Routing
  public let routes: Routes
  public let pool: PeerPool
  private let registry: GRPCClient<PeerTransport>
  private let hosts: [GRPCServerHost]
  private let streams = ActiveStreams()
  private let logger: Logger
  /// The vWires it made, with `--dataplane kernel`.
  public let wires: LocalVWires?

  public init(configuration: ManagerConfiguration, logger: Logger) throws {
    self.configuration = configuration
    self.logger = logger
    let wires = configuration.links.map {
      LocalVWires(links: $0, owner: configuration.name, tunnelGuard: configuration.tunnelGuard)
    }
    self.wires = wires
    let time = configuration.time
    var publishedGateway: (@Sendable () async throws -> ServiceAddress?)?
    if configuration.proxyURL == nil, let domain = configuration.domain, let directory = configuration.directory {
      publishedGateway = {
        guard let url = try await directory.gatewayURL(of: domain) else { return nil }
        return try ServiceAddress(parsing: url)
      }
    }
    routing = Routing(ownURL: configuration.url, gateway: configuration.proxyURL, publishedGateway: publishedGateway)
    let parts = HopParts(
      name: configuration.name,
      identity: configuration.identity,
      maxTokenLifetime: configuration.maxTokenLifetime,
      peerLimits: configuration.peerLimits,
      time: time,
      logger: logger
    )
    pool = parts.pool
    monitor = parts.monitor
    routes = parts.routes
    registry = try parts.client(for: configuration.registry)
    let routes = parts.routes
    let directory = RegistryDirectory(grpc: registry)
    let routing = self.routing
    // One set of VNIs for both sides of this node: Linux's limit is per node.
    let vnis = VNIAllocator()
    let caller = parts.caller
    let chain = ConnectChain {
      parts.base()
      MechanismElement(role: .manager, tunnelIP: configuration.tunnelIP, vnis: vnis)
      if let wires {
        DataplaneElement(wires: wires, routes: routes)
      } else {
        PassThrough()
      }
      ClientInfoElement(labels: configuration.nodeLabels)
      DiscoverElement(directory: directory, time: time)
      SelectElement(routing: routing, directory: directory, routes: routes)
      ConnectNextElement(caller: caller, routes: routes, tunnelIP: configuration.tunnelIP, vnis: vnis)
    }
    let services: [any RegistrableRPCService] = [
      NetworkServiceService(chain: chain, logger: logger, time: time),
      MonitorConnectionService(monitor: monitor, streams: streams),
      RegistryPassage<Registry_NetworkService>(registry: registry, streams: streams, hooks: .init()),
      RegistryPassage<Registry_NetworkServiceEndpoint>(
        registry: registry,
        streams: streams,
        hooks: .manager(routing: routing, labels: configuration.nodeLabels)
      ),
    ]
    hosts = try configuration.listen.map {
      try GRPCServerHost(
        address: $0,
        identity: configuration.identity,
        limits: configuration.limits,
        services: services
      )
    }
  }

  /// Everything a manager process runs; a `ServiceGroup` stops them in reverse order.
  public var services: [any Service] { [pool, self] }

  /// Where it listens, once it does (port 0 resolved), in the order of ``ManagerConfiguration/listen``.
  public var listeningAddresses: [ServiceAddress] {
    get async throws {
      var addresses: [ServiceAddress] = []
      for host in hosts { addresses.append(try await host.listeningAddress) }
      return addresses
    }
  }

  public func run() async throws {
    let hosts = self.hosts
    let registry = self.registry
    let streams = self.streams
    let monitor = self.monitor
    let logger = self.logger
    if let wires {
      do {
        try await wires.tunnelGuard?.reset()
      } catch {
        throw NSMError(
          .failedPrecondition,
          "remote vWires need nftables to keep foreign packets out of their tunnels: \(error)"
        )
      }
      let removed = await wires.removeLeftovers()
      if removed > 0 { logger.info("removed what a previous run left", metadata: ["links": "\(removed)"]) }
    }
    let wires = self.wires
    let time = configuration.time
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await registry.runConnections() }
        if let wires {
          group.addTask {
            await cancelWhenGracefulShutdown { await wires.watchNamespaces(every: .seconds(1), time: time) }
          }
        }
        for host in hosts { group.addTask { try await host.serve() } }
        let addresses = try await self.listeningAddresses
        logger.info(
          "manager listening",
          metadata: [
            "name": "\(self.configuration.name)",
            "listen": "\(addresses.map(\.description).joined(separator: ","))",
            "url": "\(self.configuration.url)", "registry": "\(self.configuration.registry)",
            "labels": "\(self.configuration.nodeLabels)",
          ]
        )
      }
    } onGracefulShutdown: {
      logger.info("manager shutting down")
      streams.closeAll()
      monitor.finishAll()
      for host in hosts { host.beginGracefulShutdown() }
      registry.beginGracefulShutdown()
    }
  }
}
