public import NSMAPI
public import NSMCore

/// Where a gateway sends a connection, and under which names (reference §2.4).
///
/// The endpoint's name says it: `nse@B` with B a domain of this gateway goes into this domain,
/// to the manager its own registry names for `nse`, with `@B` taken off the endpoint's and the
/// network service's names on the way in and put back on the answer; `nse@C` with C another
/// domain goes, unchanged, to C's gateway as DNS publishes it, or, for a floating C, to the
/// gateway C's registry names, or to the manager of this domain that registered it there. A
/// refresh and the Close take the route the Request took. It sets the context's ``DomainCrossing``
/// for the elements after it, so it runs first.
public struct GatewayRouteElement: ConnectElement {
  public let domains: [String]
  public let directory: any DomainDirectory
  public let registry: any EndpointDirectory
  public let routes: Routes
  /// What other domains dial to reach this gateway; a floating domain's endpoint carrying it
  /// must be found among this domain's own registrations.
  public let publicURL: String?
  /// Each connection's crossing, for its refreshes.
  private let crossings = PerConnection<DomainCrossing>()

  public init(
    domains: [String],
    directory: any DomainDirectory,
    registry: any EndpointDirectory,
    routes: Routes,
    publicURL: String? = nil
  ) {
    self.domains = domains
    self.directory = directory
    self.registry = registry
    self.routes = routes
    self.publicURL = publicURL
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let original = request.connection
    var request = request
    var context = context
    let (endpoint, domain) = try Self.split(original.networkServiceEndpointName)
    let translated = Self.serves(domains, domain)
    if translated {
      request.connection.networkServiceEndpointName = endpoint
      request.connection.networkService = Self.local(original.networkService, in: domain)
    }
    let crossing: DomainCrossing
    if let route = routes.route(of: original.id) {
      context.nextHop = route.hop
      crossing = crossings.get(original.id) ?? (translated ? .inward : .outward)
    } else if translated {
      context.nextHop = try await managerHop(for: endpoint, context: context)
      crossing = .inward
    } else {
      let hop: NextHop
      (hop, crossing) = try await outwardHop(
        endpoint: original.networkServiceEndpointName,
        of: domain,
        context: context
      )
      context.nextHop = hop
    }
    context.crossing = crossing
    var answer = try await next.request(request, context: context)
    crossings.set(original.id, crossing)
    answer.networkServiceEndpointName = original.networkServiceEndpointName
    answer.networkService = original.networkService
    return answer
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    var connection = connection
    if let (endpoint, domain) = try? Self.split(connection.networkServiceEndpointName),
      Self.serves(domains, domain)
    {
      connection.networkServiceEndpointName = endpoint
      connection.networkService = Self.local(connection.networkService, in: domain)
    }
    var context = context
    context.crossing = crossings.get(connection.id)
    defer { crossings.remove(connection.id) }
    try await next.close(connection, context: context)
  }

  /// The manager this domain's registry stores for `endpoint`.
  private func managerHop(for endpoint: String, context: ConnectContext) async throws -> NextHop {
    guard let record = try await registry.endpoint(named: endpoint, context: context) else {
      throw NSMError(.notFound, "network service endpoint \(endpoint) not found in this domain's registry")
    }
    guard let address = try? ServiceAddress(parsing: record.url) else {
      throw NSMError.unavailable("endpoint '\(endpoint)' has an unusable URL '\(record.url)'")
    }
    return NextHop(address: address, endpointName: endpoint, viaManager: true)
  }

  /// Where an endpoint of a domain this gateway does not serve is reached: the manager of a
  /// workload of this domain that registered it there (a floating domain's endpoint coming
  /// home: inward), else the gateway `domain` publishes, else, for a domain that publishes none
  /// (a floating one), the URL its registry holds for the endpoint: the registering domain's
  /// gateway.
  private func outwardHop(
    endpoint: String,
    of domain: String,
    context: ConnectContext
  ) async throws -> (NextHop, DomainCrossing) {
    if let origin = try await registry.origin(named: endpoint, context: context) {
      if try await isThisGateway(origin.url) {
        // A floating domain this domain's own registry hosts keeps only the gateway's URL;
        // calling it would wait on this very connection until the deadline.
        throw NSMError(
          .failedPrecondition,
          "endpoint '\(endpoint)' is registered in '\(domain)', a floating domain this domain's own registry hosts, under this gateway's URL \(origin.url); a gateway cannot yet find the manager behind such a registration"
        )
      }
      guard let address = try? ServiceAddress(parsing: origin.url) else {
        throw NSMError.unavailable(
          "endpoint '\(endpoint)' was registered from this domain with an unusable URL '\(origin.url)'"
        )
      }
      return (NextHop(address: address, endpointName: endpoint, viaManager: true), .inward)
    }
    if let url = try await directory.gatewayURL(of: domain) {
      guard let address = try? ServiceAddress(parsing: url) else {
        throw NSMError.unavailable("domain '\(domain)' publishes an unusable gateway '\(url)'")
      }
      return (NextHop(address: address, endpointName: endpoint, viaManager: true), .outward)
    }
    guard let record = try await registry.endpoint(named: endpoint, context: context) else {
      throw NSMError.unavailable(
        "domain '\(domain)' publishes no gateway (_nsm-proxy._tcp.\(domain)) and its registry knows no endpoint '\(endpoint)'"
      )
    }
    if try await isThisGateway(record.url) {
      throw NSMError.notFound(
        "endpoint '\(endpoint)' is registered in '\(domain)' with this gateway's URL, but no workload of this domain holds that registration (expired, or registered through another domain's registry)"
      )
    }
    guard let address = try? ServiceAddress(parsing: record.url) else {
      throw NSMError.unavailable("endpoint '\(endpoint)' of '\(domain)' has an unusable URL '\(record.url)'")
    }
    return (NextHop(address: address, endpointName: endpoint, viaManager: true), .outward)
  }

  /// Whether `url` reaches this gateway: its `--public-url`, or the gateway its domain
  /// publishes (what the registry gives other domains for this domain's endpoints).
  private func isThisGateway(_ url: String) async throws -> Bool {
    if let publicURL, url == publicURL { return true }
    guard let own = domains.first else { return false }
    return (try? await directory.gatewayURL(of: own)) == url
  }

  /// `nse@domain` as its two parts; INVALID_ARGUMENT for a name a gateway cannot route.
  static func split(_ name: String) throws(NSMError) -> (String, String) {
    guard let at = name.lastIndex(of: "@"), at != name.startIndex, name.index(after: at) != name.endIndex else {
      throw .invalidArgument(
        "a gateway routes connections to 'endpoint@domain'; network_service_endpoint_name is '\(name)'"
      )
    }
    return (String(name[..<at]), String(name[name.index(after: at)...]))
  }

  /// The service's name within `domain`: without `@domain` when it carries it.
  static func local(_ service: String, in domain: String) -> String {
    DomainTranslation.strip(service, domain: domain)
  }

  /// Whether `domain` is one of `domains` (DNS names: no case, no trailing dot).
  static func serves(_ domains: [String], _ domain: String) -> Bool {
    domains.contains { ScopedName.sameDomain($0, domain) }
  }
}
