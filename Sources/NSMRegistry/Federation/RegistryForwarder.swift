internal import GRPCCore
internal import Logging
public import NSMCore
internal import NSMSecurity

/// Calls another domain's registry: resolves the domain, reuses the pooled connection to each
/// of its addresses, tries them in order while they are unreachable, and passes the caller's
/// deadline and the forwarding metadata on.
public struct RegistryForwarder: Sendable {
  public let directory: any DomainDirectory
  public let pool: PeerPool
  public let statistics: PeerStatistics
  /// The deadline a forwarded call gets when its caller set none (watches excepted), so a
  /// peer that accepts connections but never answers cannot hold a caller forever.
  public var defaultTimeout: Duration

  public init(
    directory: any DomainDirectory,
    pool: PeerPool,
    statistics: PeerStatistics = PeerStatistics(),
    defaultTimeout: Duration = .seconds(15)
  ) {
    self.directory = directory
    self.pool = pool
    self.statistics = statistics
    self.defaultTimeout = defaultTimeout
  }

  /// The metadata a call forwarded for `domain` carries: one more hop, and the domain unless it
  /// is a `host:port` literal (which names a registry, not a domain it could tell apart).
  static func forwarding(_ context: RegistryContext, to domain: String, snapshotMarker: Bool = false) -> ForwardingInfo
  {
    ForwardingInfo(
      hops: context.forwarding.hops + 1,
      domain: DomainName.splitHostPort(domain) == nil ? domain : nil,
      wantsSnapshotMarker: snapshotMarker
    )
  }

  /// Runs `body` against `domain`'s registry: the first address that answers wins. A status the
  /// peer itself returned (other than UNAVAILABLE) is the answer and is passed back as it is.
  func call<Result: Sendable>(
    _ verb: String,
    domain: String,
    context: RegistryContext,
    body: @escaping @Sendable (RegistryClient, CallOptions, Metadata) async throws -> (Result, Metadata)
  ) async throws -> Result {
    let metadata = Self.forwarding(context, to: domain).metadata
    let clock = ContinuousClock()
    var failures: [String] = []
    for address in try await directory.registryAddresses(of: domain) {
      // Recomputed per address: the time spent on an unreachable one is gone.
      var options = CallOptions.defaults
      options.timeout = try remainingTime(context)
      let peer = PeerStatistics.Peer(domain: domain, address: address.description)
      let start = clock.now
      do {
        let result: Result
        let pool = self.pool
        let options = options
        let attempt: @Sendable () async throws -> Result = {
          // Bounded here as well: grpc-swift does not end a call whose connection never
          // finishes its HTTP/2 handshake (a peer that accepts TCP and stays mute).
          try await Self.bounded(by: options.timeout ?? .seconds(15)) {
            try await pool.withClient(for: address) { client, peer in
              try await Self.secured(context, peer: peer, metadata: metadata) { metadata in
                try await body(client, options, metadata)
              }
            }
          } onTimeout: {
            pool.retire(address)
          }
        }
        do {
          result = try await attempt()
        } catch let error as NSMError where error.message.hasPrefix("policy \(PathPolicies.nextTokenSigned) ") {
          // The peer rotated its SVID: it signs with the new key, while this connection still
          // holds the certificate of its handshake. One new connection, one more try (every
          // registry call is idempotent).
          pool.retire(address)
          result = try await attempt()
        }
        finished(verb, peer: peer, latency: clock.now - start, status: "OK", context: context)
        return result
      } catch let error as RPCError {
        switch error.code {
        case .unavailable:
          failed(verb, peer: peer, latency: clock.now - start, error: error.message, context: context)
          failures.append("\(address): \(error.message)")
        case .deadlineExceeded:
          failed(verb, peer: peer, latency: clock.now - start, error: "deadline exceeded", context: context)
          throw NSMError(
            .deadlineExceeded,
            "registry of domain '\(domain)' at \(address) did not answer within the deadline"
          )
        case .cancelled:
          failed(verb, peer: peer, latency: clock.now - start, error: "cancelled", context: context)
          throw error
        default:
          finished(verb, peer: peer, latency: clock.now - start, status: "\(error.code)", context: context)
          throw Self.fromPeer(error, domain: domain)
        }
      } catch let error as NSMError {
        throw error
      } catch {
        // The caller's RPC was cancelled (client gone, or its deadline reached on this side
        // first): the attempt still counts.
        failed(verb, peer: peer, latency: clock.now - start, error: "\(error)", context: context)
        throw error
      }
    }
    throw Self.unreachable(domain, tried: failures)
  }

  /// On a secured registry: adds the path (the incoming tokens and this registry's token for
  /// `peer`) to `metadata`, and checks `next_token_signed` on the peer's answer.
  static func secured<Result>(
    _ context: RegistryContext,
    peer: WorkloadIdentity.Peer?,
    metadata: Metadata,
    _ call: (Metadata) async throws -> (Result, Metadata)
  ) async throws -> Result {
    guard let authorization = context.authorization else { return try await call(metadata).0 }
    guard let peer else { throw RPCError(code: .unavailable, message: "the peer's identity is unknown") }
    let path = try authorization.forwardedPath(to: peer)
    var metadata = metadata
    metadata.addString(path.json, forKey: RegistryPath.metadataKey)
    let (result, response) = try await call(metadata)
    try authorization.checkNext(response: response, ownIndex: path.index, peer: peer)
    return result
  }

  /// Runs `operation`, or throws DEADLINE_EXCEEDED (and runs `onTimeout`) once `limit` passed.
  static func bounded<T: Sendable>(
    by limit: Duration,
    _ operation: @escaping @Sendable () async throws -> T,
    onTimeout: @escaping @Sendable () -> Void
  ) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
      group.addTask { try await operation() }
      group.addTask {
        try await Task.sleep(for: limit)
        return nil
      }
      defer { group.cancelAll() }
      guard let first = try await group.next(), let value = first else {
        onTimeout()
        throw RPCError(code: .deadlineExceeded, message: "no answer within \(limit)")
      }
      return value
    }
  }

  /// UNAVAILABLE naming the domain and every address tried, with why each failed.
  static func unreachable(_ domain: String, tried failures: [String]) -> NSMError {
    NSMError(.unavailable, "registry of domain '\(domain)' is unreachable: " + failures.joined(separator: "; "))
  }

  /// The time left before the caller's deadline, or the default for a caller without one.
  func remainingTime(_ context: RegistryContext) throws(NSMError) -> Duration {
    guard let deadline = context.deadline else { return defaultTimeout }
    let left = deadline - ContinuousClock.now
    guard left > .zero else {
      throw NSMError(.deadlineExceeded, "the caller's deadline passed before the call could be forwarded")
    }
    return left
  }

  func failed(_ verb: String, peer: PeerStatistics.Peer, latency: Duration, error: String, context: RegistryContext) {
    statistics.record(peer, answered: false, latency: latency)
    context.logger.debug(
      "forwarded \(verb) failed",
      metadata: ["domain": "\(peer.domain)", "target": "\(peer.address)", "error": "\(error)"]
    )
  }

  func finished(
    _ verb: String,
    peer: PeerStatistics.Peer,
    latency: Duration,
    status: String,
    context: RegistryContext
  ) {
    statistics.record(peer, answered: true, latency: latency)
    context.logger.debug(
      "forwarded \(verb)",
      metadata: [
        "domain": "\(peer.domain)", "target": "\(peer.address)", "status": "\(status)",
        "latency-ms": "\(Double(latency.components.attoseconds) / 1e15 + Double(latency.components.seconds) * 1000)",
      ]
    )
  }

  /// A peer's error, naming the domain once (a chain of registries would otherwise repeat it).
  /// Only code and message: the peer's trailers hold its own `grpc-status`, which must not be
  /// sent on as ours.
  static func fromPeer(_ error: RPCError, domain: String) -> RPCError {
    let prefix = "domain '\(domain)': "
    return RPCError(code: error.code, message: error.message.hasPrefix(prefix) ? error.message : prefix + error.message)
  }
}
