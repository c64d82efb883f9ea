public import GRPCCore
public import Logging
public import NSMCore
internal import Synchronization

/// A peer to call: its addresses in the order to try them.
public struct PeerTarget: Sendable {
  /// The domain it serves, for statistics and messages.
  public var domain: String
  /// What it is, for messages: `registry of domain 'b.example'`.
  public var description: String
  public var addresses: [ServiceAddress]

  public init(domain: String, description: String, addresses: [ServiceAddress]) {
    self.domain = domain
    self.description = description
    self.addresses = addresses
  }
}

/// One try of a call on one connection, as the caller's body sees it.
public struct PeerAttempt: Sendable {
  public let connection: PeerConnection
  /// The call's options: its timeout is what is left of the caller's deadline.
  public let options: CallOptions
  /// The metadata to send: the caller's, and this hop's path when secured.
  public let metadata: Metadata
  fileprivate let check: @Sendable (Metadata) async throws -> Void
  fileprivate let answer: @Sendable () -> Void

  /// Checks the metadata the peer answered with (`next_token_signed` when secured) and notes
  /// that it answered; call it before using anything the peer sent.
  public func verify(_ answer: Metadata) async throws {
    self.answer()
    try await check(answer)
  }
}

/// Calls peers, the one way every forwarded call and watch does (DESIGN.md §4): the peer's
/// addresses in order while they are unreachable, the caller's deadline (recomputed per
/// address) passed on and enforced even while a connection hangs in its handshake, the path
/// added and the peer's answer checked, one retry on a new connection when that check fails
/// (a rotated peer SVID), statistics and logs for every attempt.
///
/// A status the peer itself returned (other than UNAVAILABLE) is the answer and is passed back
/// with the domain named once; the peer's trailers are not, as they hold its own `grpc-status`.
public struct PeerCaller: Sendable {
  public let pool: PeerPool
  public let statistics: PeerStatistics
  public let time: any TimeSource

  public init(pool: PeerPool, statistics: PeerStatistics = PeerStatistics(), time: any TimeSource = SystemTime()) {
    self.pool = pool
    self.statistics = statistics
    self.time = time
  }

  /// Runs `body` against `target`: the first address that answers wins.
  /// - Parameters:
  ///   - caller: who the call is made for (the pool bounds connections per caller).
  ///   - deadline: when the caller stops waiting; nil for none.
  ///   - defaultTimeout: the limit when the caller set no deadline; nil for none (a watch).
  ///   - body: the call; it returns once done (a watch: once its stream ended) and must call
  ///     ``PeerAttempt/verify(_:)`` with the peer's first answer metadata. Errors it throws
  ///     before that answer try the next address when they are UNAVAILABLE.
  public func call<Result: Sendable>(
    _ verb: String,
    target: PeerTarget,
    caller: String,
    deadline: ContinuousClock.Instant?,
    defaultTimeout: Duration?,
    metadata: Metadata,
    security: (any PeerCallSecurity)?,
    logger: Logger,
    _ body: @escaping @Sendable (PeerAttempt) async throws -> Result
  ) async throws -> Result {
    var failures: [String] = []
    for address in target.addresses {
      let peer = PeerStatistics.Peer(domain: target.domain, address: address.description)
      let log = AttemptLog(verb: verb, peer: peer, statistics: statistics, time: time, logger: logger)
      var timeout = defaultTimeout
      if let deadline {
        timeout = deadline - time.now
        guard timeout! > .zero else {
          // Counted against the peer like a deadline it missed: the caller gave up on it.
          log.failed("the caller's deadline passed before the call")
          throw NSMError(.deadlineExceeded, "the caller's deadline passed before \(target.description) could be called")
        }
      }
      do {
        let result: Result
        do {
          result = try await attempt(address, caller, timeout, metadata, security, log, body)
        } catch is PeerAnswerRejected {
          // Once more on a new connection: the old one holds the peer's old certificate. Every
          // call forwarded this way is idempotent (registry calls are).
          logger.debug("peer's answer refused; retrying on a new connection", metadata: ["target": "\(address)"])
          do {
            result = try await attempt(address, caller, timeout, metadata, security, log, body)
          } catch let again as PeerAnswerRejected {
            throw again.error
          }
        }
        log.finished(status: "OK")
        return result
      } catch {
        switch Self.code(of: error) {
        case .unavailable:
          log.failed(Self.message(of: error))
          failures.append("\(address): \(Self.message(of: error))")
        case .deadlineExceeded:
          log.failed("deadline exceeded")
          throw NSMError(.deadlineExceeded, "\(target.description) at \(address) did not answer within the deadline")
        case .cancelled:
          log.failed("cancelled")
          throw error
        case .some(let code) where error is RPCError:
          log.finished(status: "\(code)")
          throw Self.fromPeer(error as! RPCError, domain: target.domain)
        default:
          // Refused on this side (a pool limit, a policy check): not the peer's doing.
          throw error
        }
      }
    }
    throw Self.unreachable(target, tried: failures)
  }

  private func attempt<Result: Sendable>(
    _ address: ServiceAddress,
    _ caller: String,
    _ timeout: Duration?,
    _ metadata: Metadata,
    _ security: (any PeerCallSecurity)?,
    _ log: AttemptLog,
    _ body: @escaping @Sendable (PeerAttempt) async throws -> Result
  ) async throws -> Result {
    let pool = self.pool
    let used = Mutex<PeerConnection?>(nil)
    let operation: @Sendable () async throws -> Result = {
      try await pool.withConnection(to: address, caller: caller) { connection in
        used.withLock { $0 = connection }
        var options = CallOptions.defaults
        options.timeout = timeout
        var metadata = metadata
        var check: @Sendable (Metadata) async throws -> Void = { _ in }
        if let security {
          guard let peer = connection.peer else {
            throw RPCError(code: .unavailable, message: "the peer's identity is unknown")
          }
          let sent = try await security.outgoing(to: peer)
          metadata.add(contentsOf: sent.metadata)
          check = { try await security.verify(answer: $0, sent: sent, peer: peer) }
        }
        do {
          return try await body(
            PeerAttempt(
              connection: connection,
              options: options,
              metadata: metadata,
              check: check,
              answer: log.answered
            )
          )
        } catch let rejected as PeerAnswerRejected {
          pool.retire(connection)
          throw rejected
        }
      }
    }
    guard let timeout else { return try await operation() }
    do {
      return try await Deadline.run(within: timeout, time: time, operation) {
        // A connection that hangs this long is not to be used again.
        if let connection = used.withLock({ $0 }) { pool.retire(connection) }
      }
    } catch let error as NSMError where error.code == .deadlineExceeded {
      throw RPCError(code: .deadlineExceeded, message: error.message)
    }
  }

  /// The gRPC code an error stands for; nil when it is not a status.
  public static func code(of error: any Error) -> RPCError.Code? {
    if let error = error as? RPCError { return error.code }
    if let error = error as? NSMError { return error.rpcErrorCode }
    if error is CancellationError { return .cancelled }
    return nil
  }

  static func message(of error: any Error) -> String {
    if let error = error as? RPCError { return error.message }
    if let error = error as? NSMError { return error.message }
    return "\(error)"
  }

  /// UNAVAILABLE naming the peer and every address tried, with why each failed.
  public static func unreachable(_ target: PeerTarget, tried failures: [String]) -> NSMError {
    NSMError(.unavailable, "\(target.description) is unreachable: " + failures.joined(separator: "; "))
  }

  /// A peer's error, naming the domain once (a chain of peers would otherwise repeat it).
  static func fromPeer(_ error: RPCError, domain: String) -> RPCError {
    let prefix = "domain '\(domain)': "
    return RPCError(code: error.code, message: error.message.hasPrefix(prefix) ? error.message : prefix + error.message)
  }
}

/// The statistics and debug log of one call to one address: answered once, at the first answer.
private final class AttemptLog: Sendable {
  let verb: String
  let peer: PeerStatistics.Peer
  let statistics: PeerStatistics
  let time: any TimeSource
  let logger: Logger
  let start: ContinuousClock.Instant
  private let done = Mutex(false)

  init(verb: String, peer: PeerStatistics.Peer, statistics: PeerStatistics, time: any TimeSource, logger: Logger) {
    self.verb = verb
    self.peer = peer
    self.statistics = statistics
    self.time = time
    self.logger = logger
    start = time.now
  }

  private func first() -> Bool {
    done.withLock { done in
      defer { done = true }
      return !done
    }
  }

  /// The peer answered: counted with the time it took (for a watch, the time to open).
  @Sendable func answered() {
    finished(status: "answered")
  }

  func finished(status: String) {
    guard first() else { return }
    let latency = time.now - start
    statistics.record(peer, answered: true, latency: latency)
    logger.debug(
      "\(verb) to peer",
      metadata: [
        "domain": "\(peer.domain)", "target": "\(peer.address)", "status": "\(status)",
        "latency-ms": "\(latency.timeInterval * 1000)",
      ]
    )
  }

  func failed(_ error: String) {
    // A failure after an answer (a watch lost midway) was counted as answered already.
    guard first() else { return }
    statistics.record(peer, answered: false, latency: time.now - start)
    logger.debug(
      "\(verb) to peer failed",
      metadata: ["domain": "\(peer.domain)", "target": "\(peer.address)", "error": "\(error)"]
    )
  }
}
