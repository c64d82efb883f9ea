internal import GRPCCore
public import Logging
internal import NSMAPI
internal import NSMCore
internal import NSMRegistry
public import NSMRelay
public import NSMTransport
public import ServiceLifecycle

/// `nsm proxy`: a domain's gateway (upstream's nsmgr-proxy). Managers of its domain send it the
/// connections whose endpoint lives in another domain; it passes them to that domain's gateway,
/// and takes connections from other domains' gateways to the manager of the endpoint in its own
/// domain. Refresh, Close and the connection monitor pass through it like through any hop.
public final class ProxyServer: Service {
  public let configuration: ProxyConfiguration
  public let monitor: ConnectionMonitor
  public let routes: Routes
  public let pool: PeerPool
  /// The vWires spliced here, with a relay.
  public let relayTable: RelayTable
  private let registry: GRPCClient<PeerTransport>
  private let hosts: [GRPCServerHost]
  private let streams = ActiveStreams()
  private let logger: Logger

  public init(configuration: ProxyConfiguration, logger: Logger) throws {
    self.configuration = configuration
    self.logger = logger
    relayTable = RelayTable()
    let time = configuration.time
    let parts = HopParts(
      name: configuration.name,
      identity: configuration.identity,
      maxTokenLifetime: configuration.maxTokenLifetime,
      time: time,
      logger: logger
    )
    pool = parts.pool
    monitor = parts.monitor
    routes = parts.routes
    let registry = try parts.client(for: configuration.registry)
    self.registry = registry
    let streams = self.streams
    let monitor = parts.monitor
    let routes = parts.routes
    let relayTable = self.relayTable
    // The route element first: it decides the crossing the others read (and only reads the
    // registry and DNS), then the policy, then what the relay or address map changes.
    let chain = ConnectChain {
      parts.base()
      GatewayRouteElement(
        domains: configuration.domains,
        directory: configuration.directory,
        registry: RegistryDirectory(grpc: registry),
        routes: routes,
        publicURL: configuration.publicURL
      )
      if let identity = configuration.identity {
        GatewayPolicyElement(identity: identity, source: configuration.policy)
      } else {
        PassThrough()
      }
      if let relay = configuration.relay {
        GatewayRelayElement(
          inside: relay.inside,
          outside: relay.outside,
          table: relayTable,
          kernel: configuration.kernelRelay,
          addressMap: configuration.addressMap
        )
      } else if let map = configuration.addressMap {
        AddressSwapElement(map: map)
      } else {
        PassThrough()
      }
      ForwardElement(caller: parts.caller, routes: routes)
    }
    hosts = try configuration.listen.map {
      try GRPCServerHost(
        address: $0,
        identity: configuration.identity,
        limits: configuration.limits,
        services: [
          NetworkServiceService(chain: chain, logger: logger, time: time),
          MonitorConnectionService(monitor: monitor, streams: streams),
        ]
      )
    }
  }

  /// Everything a gateway process runs.
  public var services: [any Service] {
    var security = SecurityConfiguration()
    security.identity = configuration.identity
    security.policy = configuration.policy
    return [pool, SecurityReloader(security: security, logger: logger), self]
  }

  public func run() async throws {
    var relay: VXLANRelay?
    if let kernel = configuration.kernelRelay {
      let reset = try await kernel.reset()
      if reset.replacedTable {
        logger.info("removed the splices a previous run left", metadata: ["table": "\(kernel.table)"])
      }
      for sysctl in reset.enabled {
        logger.notice("turned on forwarding for the kernel relay", metadata: ["sysctl": "\(sysctl)"])
      }
    } else if let sides = configuration.relay {
      relay = try await VXLANRelay.start(
        table: relayTable,
        inside: (sides.inside.address, sides.inside.port),
        outside: (sides.outside.address, sides.outside.port)
      )
    }
    do {
      try await serve(relay: relay)
    } catch {
      await relay?.close()
      throw error
    }
    await relay?.close()
  }

  private func serve(relay: VXLANRelay?) async throws {
    let hosts = self.hosts
    let registry = self.registry
    let streams = self.streams
    let monitor = self.monitor
    let logger = self.logger
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await registry.runConnections() }
        for host in hosts { group.addTask { try await host.serve() } }
        var addresses: [String] = []
        for host in hosts { addresses.append(try await host.listeningAddress.description) }
        logger.info(
          "proxy listening",
          metadata: [
            "name": "\(self.configuration.name)", "domains": "\(self.configuration.domains.joined(separator: ","))",
            "listen": "\(addresses.joined(separator: ","))", "registry": "\(self.configuration.registry)",
            "public-url": "\(self.configuration.publicURL ?? "-")",
            "relay":
              "\(relay.map { "\($0.address(of: .inside).map { "\($0)" } ?? "?") ↔ \($0.address(of: .outside).map { "\($0)" } ?? "?")" } ?? "none")",
          ]
        )
      }
    } onGracefulShutdown: {
      logger.info("proxy shutting down")
      streams.closeAll()
      monitor.finishAll()
      for host in hosts { host.beginGracefulShutdown() }
      registry.beginGracefulShutdown()
    }
  }
}
