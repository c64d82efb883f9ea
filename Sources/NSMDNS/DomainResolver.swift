internal import Foundation
public import NSMCore
internal import Synchronization

/// Finds another domain's registry and proxy gateway by DNS (DESIGN.md §6).
///
/// For a domain D it asks `_nsm-registry._tcp.D` (RFC 2782), then upstream NSM's
/// `registry.nsm-system.D`; for the gateway `_nsm-proxy._tcp.D`, then `nsmgr-proxy.nsm-system.D`.
/// Unlike upstream it honours the SRV target (sdk#1518) and caches: answers for their TTL (capped),
/// NXDOMAIN/NODATA for the SOA minimum (capped at 30 s). Concurrent lookups of one name share one
/// query. Each query has a deadline per name server and moves on to the next server on timeout.
/// A domain written as `host:port` or `[v6]:port` skips DNS.
public final class DomainResolver: Sendable {
  public struct Configuration: Sendable {
    /// Asked in order; the first that answers wins.
    public var servers: [NameServer]
    /// How long one server gets to answer one query.
    public var timeout: Duration = .seconds(2)
    /// The longest an answer is cached, whatever its TTL.
    public var maxTTL: Duration = .seconds(300)
    /// The longest a negative answer is cached.
    public var maxNegativeTTL: Duration = .seconds(30)
    /// Answers cached at once. Callers choose the names (`x@any-domain`), so the cache is
    /// bounded: expired answers go first, then those closest to expiring.
    public var maxCacheEntries = 4096

    public init(servers: [NameServer]) {
      self.servers = servers
    }
  }

  /// Which published name answered.
  public enum Form: String, Sendable, Codable {
    case srv = "rfc2782"
    case upstream = "nsm-system"
    case literal = "host:port"
  }

  /// One place to dial, in the order to try them.
  public struct Endpoint: Hashable, Sendable, Codable {
    public var address: String
    public var port: UInt16
    public var priority: UInt16
    public var weight: UInt16
    public var ttl: UInt32
    /// The SRV target the address belongs to.
    public var target: String
    public var form: Form

    public var hostPort: String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
  }

  private struct CacheKey: Hashable {
    let name: String
    let type: QueryType
  }

  private struct CacheEntry {
    let answer: DNSAnswer
    let expires: ContinuousClock.Instant
  }

  private struct State {
    var cache: [CacheKey: CacheEntry] = [:]
    var inFlight: [CacheKey: Task<Result<DNSAnswer, QueryFailure>, Never>] = [:]
    var queriesSent = 0
    var generator: SeededGenerator
  }

  public let configuration: Configuration
  private let state: Mutex<State>
  private let time: any TimeSource

  public init(
    configuration: Configuration,
    seed: UInt64 = UInt64.random(in: .min ... .max),
    time: any TimeSource = SystemTime()
  ) {
    self.configuration = configuration
    self.time = time
    state = Mutex(State(generator: SeededGenerator(seed: seed)))
  }

  /// Queries sent over the wire so far (tests count them to see the cache work).
  public var queriesSent: Int { state.withLock { $0.queriesSent } }

  /// Answers in the cache now, expired ones not yet evicted included.
  public var cachedAnswers: Int { state.withLock { $0.cache.count } }

  /// The registry endpoints of `domain`, in the order to try them.
  public func registry(of domain: String) async throws(DNSError) -> [Endpoint] {
    try await endpoints(.registry, of: domain)
  }

  /// The proxy gateway endpoints of `domain`, in the order to try them.
  public func proxy(of domain: String) async throws(DNSError) -> [Endpoint] {
    try await endpoints(.proxy, of: domain)
  }

  public func endpoints(_ service: DiscoveryNames.Service, of domain: String) async throws(DNSError) -> [Endpoint] {
    if let literal = Self.literal(domain) { return [literal] }
    let names = DiscoveryNames(service: service, domain: domain)
    do {
      return try await resolve(srvName: names.srv, domain: domain, form: .srv)
    } catch  where error.kind == .nxdomain || error.kind == .noRecords {
      do {
        return try await resolve(srvName: names.upstream, domain: domain, form: .upstream)
      } catch  where error.kind == .nxdomain || error.kind == .noRecords {
        throw DNSError(
          error.kind,
          domain: domain,
          name: "\(names.srv) and \(names.upstream)",
          detail: "neither name publishes the \(service.rawValue)"
        )
      }
    }
  }

  static func literal(_ domain: String) -> Endpoint? {
    guard let (host, portText) = DomainName.splitHostPort(domain), DomainName.isDecimal(portText),
      let port = UInt16(portText)
    else { return nil }
    let address = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
    return Endpoint(address: address, port: port, priority: 0, weight: 0, ttl: 0, target: address, form: .literal)
  }

  private func resolve(srvName: String, domain: String, form: Form) async throws(DNSError) -> [Endpoint] {
    let answer = try await lookup(srvName, .srv, domain: domain)
    if answer.srv.count == 1, answer.srv[0].isServiceUnavailable {
      throw DNSError(.serviceNotAvailable, domain: domain, name: srvName)
    }
    let ordered = state.withLock {
      SRVOrder.order(answer.srv.filter { !$0.isServiceUnavailable }, using: &$0.generator)
    }
    var endpoints: [Endpoint] = []
    var lastError: DNSError?
    for record in ordered {
      do {
        var found: [(String, UInt32)]
        do {
          found = try await addresses(of: record.target, hint: answer, domain: domain)
        } catch  where form == .upstream && record.target != srvName {
          // Upstream NSM reads the addresses of the SRV name itself, whatever the target says;
          // a domain published for upstream may rely on that.
          found = try await addresses(of: srvName, hint: answer, domain: domain)
        }
        for (address, ttl) in found {
          endpoints.append(
            Endpoint(
              address: address,
              port: record.port,
              priority: record.priority,
              weight: record.weight,
              ttl: min(ttl, record.ttl),
              target: record.target,
              form: form
            )
          )
        }
      } catch {
        lastError = error
      }
    }
    if endpoints.isEmpty {
      throw lastError ?? DNSError(.noRecords, domain: domain, name: srvName)
    }
    return endpoints
  }

  /// A target's addresses: from the SRV answer's additional section when the server sent them,
  /// else by asking A and AAAA.
  private func addresses(of target: String, hint: DNSAnswer, domain: String) async throws(DNSError) -> [(
    String, UInt32
  )] {
    if let known = hint.addresses[target], !known.isEmpty { return known }
    var found: [(String, UInt32)] = []
    var failure: DNSError?
    for type in [QueryType.a, .aaaa] {
      do {
        let answer = try await lookup(target, type, domain: domain)
        found += answer.addresses[target] ?? []
      } catch {
        if error.kind != .nxdomain && error.kind != .noRecords { failure = error }
      }
    }
    if found.isEmpty {
      throw failure ?? DNSError(.targetWithoutAddress, domain: domain, name: target)
    }
    return found
  }

  /// One name and type, from the cache or from the name servers; a negative answer is a
  /// `DNSError` (and is cached as such).
  private func lookup(_ name: String, _ type: QueryType, domain: String) async throws(DNSError) -> DNSAnswer {
    let key = CacheKey(name: name, type: type)
    let now = time.now
    let task = state.withLock { state -> Task<Result<DNSAnswer, QueryFailure>, Never> in
      if let entry = state.cache[key], entry.expires > now {
        return Task { .success(entry.answer) }
      }
      if let running = state.inFlight[key] { return running }
      let task = Task { await self.query(key) }
      state.inFlight[key] = task
      return task
    }
    switch await task.value {
    case .success(let answer):
      if answer.rcode == 3 { throw DNSError(.nxdomain, domain: domain, name: name) }
      if answer.rcode == 2 { throw DNSError(.serverFailure, domain: domain, name: name) }
      if answer.rcode == 5 { throw DNSError(.refused, domain: domain, name: name) }
      if answer.rcode != 0 {
        throw DNSError(.serverFailure, domain: domain, name: name, detail: "rcode \(answer.rcode)")
      }
      if !answer.hasAnswer { throw DNSError(.noRecords, domain: domain, name: name) }
      return answer
    case .failure(.noAnswer):
      throw DNSError(
        .timeout,
        domain: domain,
        name: name,
        detail:
          "asked \(configuration.servers.map(\.description).joined(separator: ", ")), \(GoDuration.format(configuration.timeout)) each"
      )
    case .failure(.malformed(let detail)):
      throw DNSError(.malformed, domain: domain, name: name, detail: detail)
    }
  }

  /// Asks each server in turn until one answers, caches what it says, and clears the in-flight
  /// entry. Runs ldns on a thread of its own (``runBlocking(_:_:)``): it blocks, and must not hold
  /// up the cooperative pool.
  private func query(_ key: CacheKey) async -> Result<DNSAnswer, QueryFailure> {
    var result: Result<DNSAnswer, QueryFailure> = .failure(.noAnswer)
    for server in configuration.servers {
      state.withLock { $0.queriesSent += 1 }
      let timeout = configuration.timeout
      result = await runBlocking("nsm.dns.query") {
        ldnsQuery(name: key.name, type: key.type, server: server, timeout: timeout)
      }
      if case .failure(.noAnswer) = result { continue }
      break
    }
    let cacheFor: Duration?
    switch result {
    case .success(let answer) where answer.rcode == 0 && answer.hasAnswer:
      let ttls = answer.srv.map(\.ttl) + answer.addresses.values.flatMap { $0.map(\.ttl) }
      cacheFor = min(.seconds(Int64(ttls.min() ?? 0)), configuration.maxTTL)
    case .success(let answer) where answer.rcode == 3 || (answer.rcode == 0 && !answer.hasAnswer):
      cacheFor = min(.seconds(Int64(answer.negativeTTL ?? 0)), configuration.maxNegativeTTL)
    default:
      cacheFor = nil  // failures are not cached: the next lookup asks again
    }
    let now = time.now
    let capacity = configuration.maxCacheEntries
    state.withLock { state in
      state.inFlight[key] = nil
      if let cacheFor, cacheFor > .zero, case .success(let answer) = result {
        state.cache[key] = CacheEntry(answer: answer, expires: now + cacheFor)
        if state.cache.count > capacity { Self.evict(from: &state.cache, now: now, capacity: capacity) }
      }
    }
    return result
  }

  /// Makes room: every expired answer goes, then the ones closest to expiring, down to 90% of
  /// the capacity so eviction stays rare.
  private static func evict(from cache: inout [CacheKey: CacheEntry], now: ContinuousClock.Instant, capacity: Int) {
    cache = cache.filter { $0.value.expires > now }
    let target = max(1, capacity * 9 / 10)
    guard cache.count > target else { return }
    for (key, _) in cache.sorted(by: { $0.value.expires < $1.value.expires }).prefix(cache.count - target) {
      cache[key] = nil
    }
  }
}
