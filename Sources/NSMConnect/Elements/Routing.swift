public import NSMAPI
public import NSMCore
internal import Synchronization

/// How a manager reaches an endpoint: an endpoint that registered through this manager is
/// stored in the registry with the manager's URL, and reached at its own address, which only
/// this manager knows (upstream's `localbypass`); any other endpoint is reached through the
/// manager whose URL its record carries.
///
/// An endpoint of another domain (`nse@domain`, as the registry names what it found there) is
/// reached through this domain's gateway when the manager has one: `--proxy-url`, or the
/// gateway its own domain publishes (looked up when needed, so a gateway started later is
/// found; the resolver caches).
public final class Routing: Sendable {
  public let ownURL: String
  public let gateway: ServiceAddress?
  /// This domain's published gateway, when there is no fixed one; nil when it publishes none.
  public let publishedGateway: (@Sendable () async throws -> ServiceAddress?)?
  private let local = Mutex<[String: ServiceAddress]>([:])

  public init(
    ownURL: String,
    gateway: ServiceAddress? = nil,
    publishedGateway: (@Sendable () async throws -> ServiceAddress?)? = nil
  ) {
    self.ownURL = ownURL
    self.gateway = gateway
    self.publishedGateway = publishedGateway
  }

  public func addLocal(_ name: String, at address: ServiceAddress) {
    local.withLock { $0[name] = address }
  }

  public func removeLocal(_ name: String) {
    local.withLock { _ = $0.removeValue(forKey: name) }
  }

  /// Where a local endpoint listens. The registry may answer with the name it registered as
  /// plus its own domain (`nse@domain`, when the query named the domain), so the local part
  /// is tried too: the record already carries this manager's URL, which only our own
  /// registrations do.
  public func localAddress(of name: String) -> ServiceAddress? {
    local.withLock { local in
      if let address = local[name] { return address }
      guard let at = name.lastIndex(of: "@") else { return nil }
      return local[String(name[..<at])]
    }
  }

  public var localCount: Int { local.withLock { $0.count } }

  private func gatewayAddress() async throws -> ServiceAddress? {
    if let gateway { return gateway }
    return try await publishedGateway?()
  }

  public func hop(for endpoint: Registry_NetworkServiceEndpoint) async throws -> NextHop {
    if endpoint.url == ownURL {
      guard let address = localAddress(of: endpoint.name) else {
        throw NSMError.unavailable(
          "endpoint '\(endpoint.name)' is registered with this manager's URL but is not connected to it (a previous run's registration?)"
        )
      }
      return NextHop(address: address, endpointName: endpoint.name, viaManager: false)
    }
    if let address = local.withLock({ $0[endpoint.name] }) {
      // Registered through this manager into another domain (`nse@floating`): that domain's
      // registry names this domain's gateway, and the gateway sends the connection back here.
      return NextHop(address: address, endpointName: endpoint.name, viaManager: false)
    }
    if endpoint.name.contains("@"), let gateway = try await gatewayAddress() {
      return NextHop(address: gateway, endpointName: endpoint.name, viaManager: true)
    }
    guard !endpoint.url.isEmpty else {
      throw NSMError.unavailable("endpoint '\(endpoint.name)' has no URL")
    }
    do {
      return NextHop(address: try ServiceAddress(parsing: endpoint.url), endpointName: endpoint.name, viaManager: true)
    } catch {
      throw NSMError.unavailable("endpoint '\(endpoint.name)' has an unusable URL '\(endpoint.url)': \(error.message)")
    }
  }
}
