internal import NSMCore
public import NSMDNS

/// Domains for federation tests: each gets a free loopback port for its registry (and, unless
/// floating, a published gateway address), all published by one nsd.
public struct TestDomains: Sendable {
  public struct Domain: Sendable {
    public var name: String
    public var registryPort: Int
    /// The published gateway; nil for a floating domain.
    public var gatewayURL: String?
  }

  public let nsd: TestNSD
  public let domains: [String: Domain]

  public subscript(_ name: String) -> Domain {
    guard let domain = domains[name] else { fatalError("no test domain \(name)") }
    return domain
  }

  /// A resolver for `host:port` domains only (it never sends a query: its name server is a
  /// closed port).
  public static func literalOnly() throws -> DomainResolver {
    DomainResolver(configuration: .init(servers: [NameServer(host: "127.0.0.1", port: UInt16(try freeLoopbackPort()))]))
  }

  /// A resolver asking this nsd; its caches are short so a test sees zone changes quickly.
  public func resolver() -> DomainResolver {
    var configuration = DomainResolver.Configuration(servers: [nsd.server])
    configuration.timeout = .seconds(1)
    return DomainResolver(configuration: configuration)
  }

  /// Publishes `named` domains with a gateway and `floating` ones without; `extra` zones
  /// (name → zone text) may point wherever a test needs, e.g. at a dead port.
  public static func start(
    _ named: [String],
    floating: [String] = [],
    extra: (_ ports: [String: Int]) throws -> [String: String] = { _ in [:] }
  ) async throws -> TestDomains {
    var domains: [String: Domain] = [:]
    var zones: [String: String] = [:]
    for name in named + floating {
      let registryPort = try freeLoopbackPort()
      let gatewayPort = floating.contains(name) ? nil : try freeLoopbackPort()
      let domain = Domain(
        name: name,
        registryPort: registryPort,
        gatewayURL: gatewayPort.map { "tcp://127.0.0.1:\($0)" }
      )
      domains[name] = domain
      let lines = try ZoneRecords.lines(
        domain: name,
        registry: ZoneRecords.Endpoint(parsing: "127.0.0.1:\(registryPort)"),
        proxy: try gatewayPort.map { try ZoneRecords.Endpoint(parsing: "127.0.0.1:\($0)") },
        ttl: 5
      )
      zones[name] = zoneHeader(name) + lines.joined(separator: "\n") + "\n"
    }
    for (name, text) in try extra(domains.mapValues(\.registryPort)) {
      zones[name] = zoneHeader(name) + text + "\n"
    }
    return TestDomains(nsd: try await TestNSD.start(zones: zones), domains: domains)
  }

  /// SOA (negative answers cached 1 s) and NS records for a test zone.
  public static func zoneHeader(_ name: String) -> String {
    """
    $ORIGIN \(name).
    $TTL 5
    @ IN SOA ns.\(name). hostmaster.\(name). ( 1 3600 600 86400 1 )
    @ IN NS ns.\(name).
    ns IN A 127.0.0.1

    """
  }
}
