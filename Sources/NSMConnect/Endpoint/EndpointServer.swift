internal import Foundation
internal import GRPCCore
public import Logging
public import NSMAPI
internal import NSMAPIGRPC
public import NSMCore
internal import NSMDataplane
internal import NSMRegistry
public import NSMTransport
public import ServiceLifecycle

/// `nsm endpoint`: a network service endpoint. It registers through its manager (and renews,
/// and registers again at once when the manager restarted), answers Requests with addresses
/// of its prefix, composes (passthrough) or scales from zero (supplier) when configured, and
/// unregisters on shutdown.
public final class EndpointServer: Service {
  public let configuration: EndpointConfiguration
  public let monitor: ConnectionMonitor
  public let pool: PeerPool
  private let manager: GRPCClient<PeerTransport>
  private let host: GRPCServerHost
  private let streams = ActiveStreams()
  private let logger: Logger

  public init(configuration: EndpointConfiguration, logger: Logger) throws {
    self.configuration = configuration
    self.logger = logger
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
    manager = try parts.client(for: configuration.connectTo)
    let monitor = parts.monitor
    let routes = parts.routes
    let caller = parts.caller
    let crossConnects = configuration.links.map { CrossConnects(links: $0, time: time) }
    let chain = ConnectChain {
      parts.base()
      if configuration.passthrough == nil {
        TrimPathElement()
      } else {
        PassThrough()
      }
      MechanismElement(role: .endpoint(inodeURL: configuration.inodeURL), tunnelIP: nil)
      if let passthrough = configuration.passthrough {
        // A bump in the wire: the next endpoint addresses the client.
        if let crossConnects {
          CrossConnectElement(crossConnects: crossConnects)
        } else {
          PassThrough()
        }
        PassthroughElement(
          manager: configuration.connectTo,
          service: passthrough.service,
          labels: passthrough.labels,
          inodeURL: configuration.inodeURL,
          caller: caller,
          routes: routes
        )
      } else {
        IPAMElement(prefix: configuration.cidr, routesWholePrefix: configuration.vl3)
        if let command = configuration.supplierCommand {
          SupplierElement(template: command)
        } else {
          PassThrough()
        }
      }
    }
    host = try GRPCServerHost(
      address: configuration.listen,
      identity: configuration.identity,
      limits: configuration.limits,
      services: [
        NetworkServiceService(chain: chain, logger: logger, time: time),
        MonitorConnectionService(monitor: monitor, streams: streams),
      ]
    )
  }

  /// Everything an endpoint process runs.
  public var services: [any Service] { [pool, self] }

  public var listeningAddress: ServiceAddress {
    get async throws { try await host.listeningAddress }
  }

  /// The registration it keeps: its services, labels and URL.
  public func registration(url: String) -> Registry_NetworkServiceEndpoint {
    var endpoint = Registry_NetworkServiceEndpoint()
    endpoint.name = configuration.name
    endpoint.networkServiceNames = configuration.services
    for service in configuration.services {
      var labels = Registry_NetworkServiceLabels()
      labels.labels = configuration.labels
      endpoint.networkServiceLabels[service] = labels
    }
    endpoint.url = url
    return endpoint
  }

  /// Serves until graceful shutdown (or, with an idle timeout, until idle that long), then
  /// unregisters and drains.
  public func run() async throws {
    if configuration.vl3 { try Self.enableForwarding(ipv6: configuration.cidr.isIPv6) }
    if configuration.passthrough != nil, configuration.links != nil { try Self.silenceARP() }
    let host = self.host
    let manager = self.manager
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await host.serve() }
      group.addTask { try await manager.runConnections() }
      let url = try await host.listeningAddress.description
      logger.info(
        "endpoint listening",
        metadata: [
          "name": "\(configuration.name)", "url": "\(url)",
          "services": "\(configuration.services.joined(separator: ","))",
          "cidr": "\(configuration.cidr)", "manager": "\(configuration.connectTo)",
        ]
      )
      await cancelWhenGracefulShutdown {
        var parts: [@Sendable () async -> Void] = [{ await self.keepRegistered(url: url) }]
        if let idle = self.configuration.idleTimeout {
          parts.append {
            await self.waitUntilIdle(for: idle)
            self.logger.info("idle: no connections for \(GoDuration.format(idle)); exiting")
          }
        }
        await firstOf(parts)
      }
      await unregister(url: url)
      streams.closeAll()
      monitor.finishAll()
      host.beginGracefulShutdown()
      manager.beginGracefulShutdown()
    }
    logger.info("endpoint stopped")
  }

  /// A vL3 endpoint routes between its clients: forwarding on in its own namespace (the sysctl
  /// is per namespace, so this changes nothing outside it).
  static func enableForwarding(ipv6: Bool) throws {
    let path = ipv6 ? "/proc/sys/net/ipv6/conf/all/forwarding" : "/proc/sys/net/ipv4/ip_forward"
    do {
      try "1".write(toFile: path, atomically: false, encoding: .utf8)
    } catch {
      throw NSMError(.failedPrecondition, "--vl3 needs forwarding in the endpoint's namespace (\(path)): \(error)")
    }
  }

  /// A middle box carries its vWires' ends with the addresses of the client and the next
  /// endpoint on them (the managers address every end). Until the two ends are joined, its own
  /// stack would answer ARP for those addresses and the client would cache the middle box's
  /// MAC; arp_ignore 8 keeps this namespace from answering ARP at all.
  static func silenceARP() throws {
    let path = "/proc/sys/net/ipv4/conf/all/arp_ignore"
    do {
      try "8".write(toFile: path, atomically: false, encoding: .utf8)
    } catch {
      throw NSMError(.failedPrecondition, "a middle box with a data plane needs \(path) in its namespace: \(error)")
    }
  }

  private func keepRegistered(url: String) async {
    let registration = registration(url: url)
    var registered = false
    while !Task.isCancelled {
      var record = registration
      record.expirationTime = .init(
        date: configuration.time.date.addingTimeInterval(configuration.expirePeriod.timeInterval)
      )
      do {
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        _ = try await Registry_NetworkServiceEndpoint.register(record, on: manager, options: options)
        if !registered { logger.info("registered", metadata: ["name": "\(configuration.name)"]) }
        registered = true
      } catch {
        if Task.isCancelled { return }
        logger.warning("registering through the manager failed; retrying", metadata: ["error": "\(error)"])
        registered = false
        try? await configuration.time.sleep(for: .milliseconds(500))
        continue
      }
      // Renew at a third of the lease, or at once when the manager restarts (it lost the
      // endpoint's address then).
      await firstOf([
        { try? await self.configuration.time.sleep(for: self.configuration.expirePeriod / 3) },
        { await self.waitForManagerLoss() },
      ])
    }
  }

  /// Returns when the connection to the manager breaks: a monitor stream that selects nothing
  /// is the cheapest signal.
  private func waitForManagerLoss() async {
    var selector = Connection_MonitorScopeSelector()
    selector.networkServices = ["\(configuration.name)/liveness"]
    do {
      try await Connection_MonitorConnection.Client(wrapping: manager).monitorConnections(selector) { response in
        for try await _ in response.messages {}
      }
    } catch {}
  }

  private func waitUntilIdle(for idle: Duration) async {
    let time = configuration.time
    var idleSince = time.now
    while !Task.isCancelled {
      if !monitor.connections.isEmpty { idleSince = time.now }
      if time.now - idleSince >= idle { return }
      try? await time.sleep(for: min(idle, .seconds(1)))
    }
  }

  private func unregister(url: String) async {
    var options = CallOptions.defaults
    options.timeout = .seconds(5)
    options.waitForReady = false
    do {
      try await Registry_NetworkServiceEndpoint.unregister(registration(url: url), on: manager, options: options)
      logger.info("unregistered", metadata: ["name": "\(configuration.name)"])
    } catch {
      logger.warning("unregistering failed; the registration expires on its own", metadata: ["error": "\(error)"])
    }
  }
}

/// Runs `operations` concurrently until the first returns, then cancels the others.
func firstOf(_ operations: [@Sendable () async -> Void]) async {
  await withTaskGroup(of: Void.self) { group in
    for operation in operations { group.addTask { await operation() } }
    await group.next()
    group.cancelAll()
  }
}
