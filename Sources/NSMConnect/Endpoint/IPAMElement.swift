public import NSMAPI
public import NSMCore
internal import Synchronization

/// An endpoint's point-to-point IPAM: each connection gets an address for its client end
/// (`src_ip_addrs`) and one for the endpoint's end (`dst_ip_addrs`) from the endpoint's
/// prefix, with a route to each other; kept across refreshes (also those that arrive after an
/// endpoint restart, when still free), released on Close or expiry.
public struct IPAMElement: ConnectElement {
  private let pool: LockedPool

  /// With `routesWholePrefix` (a vL3 endpoint) a client's route covers the endpoint's whole
  /// prefix, not only the endpoint's address: the other clients are reached through it.
  public let routesWholePrefix: Bool

  public init(prefix: IPPrefix, routesWholePrefix: Bool = false) {
    pool = LockedPool(AddressPool(prefix: prefix))
    self.routesWholePrefix = routesWholePrefix
  }

  /// Connections holding addresses now.
  public var allocatedCount: Int { pool.withLock { $0.allocatedCount } }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    var request = request
    let id = request.connection.id
    let ip = request.connection.context.ipContext
    let prefix = pool.prefix
    let wanted = Self.address(ip.dstIpAddrs.first, in: prefix).flatMap { endpoint in
      Self.address(ip.srcIpAddrs.first, in: prefix).map { AddressPool.Pair(endpoint: endpoint, client: $0) }
    }
    let (pair, isNew) = try pool.withLock { pool throws(NSMError) in
      let isNew = pool.pair(of: id) == nil
      return (try pool.allocate(connection: id, wanted: wanted), isNew)
    }
    let host = prefix.isIPv6 ? "/128" : "/32"
    let client = prefix.format(pair.client) + host
    let endpoint = prefix.format(pair.endpoint) + host
    var ipContext = request.connection.context.ipContext
    ipContext.srcIpAddrs = [client]
    ipContext.dstIpAddrs = [endpoint]
    ipContext.srcRoutes = [Connectioncontext_Route.with { $0.prefix = endpoint }]
    if routesWholePrefix {
      // Through the endpoint's address: the other clients' addresses are not on this link.
      ipContext.srcRoutes.append(
        Connectioncontext_Route.with {
          $0.prefix = prefix.description
          $0.nextHop = prefix.format(pair.endpoint)
        }
      )
    }
    ipContext.dstRoutes = [Connectioncontext_Route.with { $0.prefix = client }]
    request.connection.context.ipContext = ipContext
    do {
      return try await next.request(request, context: context)
    } catch {
      if isNew { pool.withLock { $0.release(connection: id) } }
      throw error
    }
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    defer { pool.withLock { $0.release(connection: connection.id) } }
    try await next.close(connection, context: context)
  }

  /// `10.0.0.5/32` → the address, when it lies in `prefix`.
  static func address(_ text: String?, in prefix: IPPrefix) -> UInt128? {
    guard let text else { return nil }
    let slash = text.firstIndex(of: "/") ?? text.endIndex
    guard let (value, isIPv6) = IPPrefix.parseAddress(String(text[..<slash])), isIPv6 == prefix.isIPv6,
      prefix.contains(value)
    else { return nil }
    return value
  }
}

final class LockedPool: Sendable {
  let prefix: IPPrefix
  private let pool: Mutex<AddressPool>

  init(_ pool: AddressPool) {
    prefix = pool.prefix
    self.pool = Mutex(pool)
  }

  func withLock<Result, Failure: Error>(_ body: (inout AddressPool) throws(Failure) -> Result) throws(Failure) -> Result
  {
    try pool.withLock { (pool: inout sending AddressPool) throws(Failure) -> Result in try body(&pool) }
  }
}
