internal import Foundation
public import GRPCCore
public import Logging
public import NSMAPI
internal import NSMAPIGRPC
internal import NSMCore
internal import NSMSecurity
internal import NSMTransport
internal import Synchronization

/// `nsm client`: requests its network services from its manager, keeps them (refresh on
/// upstream's schedule, §4.2), heals them (a DOWN or a lost monitor stream: re-request; the
/// endpoint gone: reselect), and closes them when it stops.
public final class NetworkServiceClient: Sendable {
  public enum Signal: Sendable {
    case down
    case monitorLost
  }

  public let configuration: ClientConfiguration
  private let logger: Logger
  private let onEvent: @Sendable (ClientEvent) -> Void
  private let mailboxes: [Mailbox<Signal>]
  private let current = Mutex<[Int: Connection_Connection]>([:])

  public init(
    configuration: ClientConfiguration,
    logger: Logger,
    onEvent: @escaping @Sendable (ClientEvent) -> Void
  ) {
    self.configuration = configuration
    self.logger = logger
    self.onEvent = onEvent
    mailboxes = configuration.services.map { _ in Mailbox() }
  }

  /// The connections held now, by service position.
  public var connections: [Int: Connection_Connection] { current.withLock { $0 } }

  /// Requests every service (each retried until the request timeout), then keeps them until
  /// the task is cancelled or `stop` returns, then closes them. Throws the last error of a
  /// first Request that could not succeed (closing what was established).
  public func run(until stop: @escaping @Sendable () async -> Void) async throws {
    let box = PeerIdentityBox()
    var factory = ClientFactory(identity: configuration.identity)
    factory.maxTokenLifetime = configuration.maxTokenLifetime
    let grpc = try factory.client(for: configuration.connectTo, box: box)
    let client = Networkservice_NetworkService.Client(wrapping: grpc)
    let caller = Caller(grpcClient: grpc, client: client, box: box, configuration: configuration)
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await grpc.runConnections() }
      defer { grpc.beginGracefulShutdown() }
      do {
        for (index, url) in configuration.services.enumerated() {
          let connection = try await firstRequest(url, index: index, caller: caller)
          current.withLock { $0[index] = connection }
          onEvent(ClientEvent(kind: .established, index: index, connection: connection))
        }
      } catch {
        await closeAll(caller)
        throw error
      }
      await firstOf([
        { await stop() },
        { await self.watchMonitor(grpc) },
        {
          await withDiscardingTaskGroup { keepers in
            for index in self.configuration.services.indices {
              keepers.addTask { await self.keep(index, caller: caller) }
            }
          }
        },
      ])
      await closeAll(caller)
    }
  }

  // MARK: Requests

  struct Caller: Sendable {
    let grpcClient: GRPCClient<PeerTransport>
    let client: Networkservice_NetworkService.Client<PeerTransport>
    let box: PeerIdentityBox
    let configuration: ClientConfiguration

    /// Sends `connection` (this client's segment refreshed) to the manager.
    func request(_ connection: Connection_Connection, url: NetworkServiceURL, index: Int, timeout: Duration)
      async throws -> Connection_Connection
    {
      var connection = connection
      _ = try PathUpdate.enter(&connection, name: configuration.name)
      // The token names the manager as its audience: learn who it is first (once per connection).
      var peer = box.value
      if configuration.identity != nil, peer == nil {
        peer = try await ConnectionProbe.connect(grpcClient, identity: box, timeout: timeout)
      }
      let issued = try await ClientToken.issue(
        identity: configuration.identity,
        peer: peer,
        maxTokenLifetime: configuration.maxTokenLifetime,
        now: configuration.time.date
      )
      let metadata = issued.metadata
      connection.path.pathSegments[0].token = issued.token ?? ""
      connection.path.pathSegments[0].expires = .init(date: issued.expires)
      var request = Networkservice_NetworkServiceRequest()
      request.connection = connection
      request.mechanismPreferences = [
        Mechanisms.kernel(interface: url.interfaceName ?? "nsm-\(index + 1)", inodeURL: configuration.inodeURL)
      ]
      var options = CallOptions.defaults
      options.timeout = timeout
      let answer = try await client.request(request, metadata: metadata, options: options) { try $0.message }
      if configuration.identity != nil {
        // `next_token_signed`: the manager's segment must be signed by the manager we reached.
        do {
          try await PathPolicies.checkNext(
            tokens: answer.path.pathSegments.map(\.token),
            ownIndex: 0,
            serverID: peer?.id,
            serverKey: peer?.key
          )
        } catch {
          try? await close(answer)
          throw error.nsmError
        }
      }
      return answer
    }

    func close(_ connection: Connection_Connection) async throws {
      let metadata = try await ClientToken.metadata(
        identity: configuration.identity,
        peer: box.value,
        maxTokenLifetime: configuration.maxTokenLifetime,
        now: configuration.time.date
      )
      var options = CallOptions.defaults
      options.timeout = .seconds(5)
      options.waitForReady = false
      _ = try await client.close(connection, metadata: metadata, options: options) { _ in true }
    }
  }

  private func firstRequest(_ url: NetworkServiceURL, index: Int, caller: Caller) async throws -> Connection_Connection
  {
    var connection = Connection_Connection()
    connection.id = UUID().uuidString.lowercased()
    connection.networkService = url.networkService
    connection.labels = configuration.labels.merging(url.labels) { $1 }
    return try await retrying(connection, url: url, index: index, caller: caller, for: configuration.requestTimeout)
  }

  /// Repeats the Request every retry interval until it succeeds or `limit` passed; nil
  /// `limit`: until cancelled. Errors a retry cannot mend (bad input, a denied policy) end it at once.
  private func retrying(
    _ connection: Connection_Connection,
    url: NetworkServiceURL,
    index: Int,
    caller: Caller,
    for limit: Duration?
  ) async throws -> Connection_Connection {
    let time = configuration.time
    let deadline = limit.map { time.now + $0 }
    var attempts = 0
    // What the servers said last: more use to a user than the time-out of a final attempt.
    var lastAnswer: (any Error)?
    while true {
      let remaining = deadline.map { $0 - time.now } ?? configuration.requestTimeout
      do {
        attempts += 1
        return try await caller.request(
          connection,
          url: url,
          index: index,
          timeout: min(remaining, configuration.requestTimeout)
        )
      } catch {
        try Task.checkCancellation()
        let code = PeerCaller.code(of: error)
        if code == .invalidArgument || code == .permissionDenied { throw error }
        if code != .deadlineExceeded && code != .cancelled { lastAnswer = error }
        if let deadline, time.now + configuration.retryInterval >= deadline {
          throw ClientFailure(service: url.networkService, attempts: attempts, error: lastAnswer ?? error)
        }
        logger.debug("request failed; retrying", metadata: ["service": "\(url.networkService)", "error": "\(error)"])
        try await time.sleep(for: configuration.retryInterval)
      }
    }
  }

  // MARK: Keeping connections

  private func keep(_ index: Int, caller: Caller) async {
    let url = configuration.services[index]
    let mailbox = mailboxes[index]
    let time = configuration.time
    while !Task.isCancelled {
      guard let connection = current.withLock({ $0[index] }) else { return }
      let delay = RefreshSchedule.delay(for: connection, now: time.date)
      let signal: Signal? = await withTaskGroup(of: Signal?.self) { group in
        group.addTask {
          try? await time.sleep(for: delay)
          return nil
        }
        group.addTask { await mailbox.receive() }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
      }
      if Task.isCancelled { return }
      let next: Connection_Connection?
      switch signal {
      case nil:
        next = await refresh(connection, url: url, index: index, caller: caller)
      case .down?:
        onEvent(ClientEvent(kind: .down, index: index, connection: markedDown(connection)))
        next = await heal(connection, url: url, index: index, caller: caller, reselect: true)
      case .monitorLost?:
        next = await heal(connection, url: url, index: index, caller: caller, reselect: false)
      }
      guard let next else { return }
      current.withLock { $0[index] = next }
      // What was reported about the old route while healing is past.
      if signal != nil { mailbox.clear() }
      let changed = Self.shape(of: next) != Self.shape(of: connection)
      if signal == .down {
        onEvent(ClientEvent(kind: .healed, index: index, connection: next))
      } else if changed {
        onEvent(ClientEvent(kind: signal == nil ? .changed : .healed, index: index, connection: next))
      }
    }
  }

  /// A refresh, retried; if its endpoint is gone (the manager cannot reach or find it), a reselect.
  private func refresh(_ connection: Connection_Connection, url: NetworkServiceURL, index: Int, caller: Caller) async
    -> Connection_Connection?
  {
    do {
      return try await caller.request(connection, url: url, index: index, timeout: configuration.requestTimeout)
    } catch {
      if Task.isCancelled { return nil }
      logger.info("refresh failed; healing", metadata: ["service": "\(url.networkService)", "error": "\(error)"])
      return await heal(connection, url: url, index: index, caller: caller, reselect: true)
    }
  }

  /// Re-requests until it succeeds: first as it was (the manager restarted, say), then, or at
  /// once with `reselect`, asking for a new selection.
  private func heal(
    _ connection: Connection_Connection,
    url: NetworkServiceURL,
    index: Int,
    caller: Caller,
    reselect: Bool
  ) async -> Connection_Connection? {
    if !reselect {
      if let healed = try? await caller.request(
        connection,
        url: url,
        index: index,
        timeout: configuration.requestTimeout
      ) {
        return healed
      }
    }
    var reselecting = connection
    reselecting.state = .reselectRequested
    reselecting.networkServiceEndpointName = ""
    reselecting.mechanism = Connection_Mechanism()
    while !Task.isCancelled {
      do {
        return try await retrying(reselecting, url: url, index: index, caller: caller, for: nil)
      } catch {
        // Only bad input ends `retrying` early; keep trying, more slowly, as the client's
        // whole purpose is this connection.
        logger.warning("healing failed", metadata: ["service": "\(url.networkService)", "error": "\(error)"])
        try? await configuration.time.sleep(for: .seconds(1))
      }
    }
    return nil
  }

  private func closeAll(_ caller: Caller) async {
    let connections = current.withLock { current in
      defer { current = [:] }
      return current
    }
    for (index, connection) in connections.sorted(by: { $0.key < $1.key }) {
      do {
        try await caller.close(connection)
        onEvent(ClientEvent(kind: .closed, index: index, connection: connection))
      } catch {
        logger.warning("closing failed; the manager closes it at expiry", metadata: ["error": "\(error)"])
      }
    }
  }

  // MARK: Monitor

  /// One MonitorConnections stream to the manager for all of this client's connections; its
  /// events and its loss go to the connection they concern.
  private func watchMonitor(_ grpc: GRPCClient<PeerTransport>) async {
    let client = Connection_MonitorConnection.Client(wrapping: grpc)
    var selector = Connection_MonitorScopeSelector()
    var segment = Connection_PathSegment()
    segment.name = configuration.name
    selector.pathSegments = [segment]
    while !Task.isCancelled {
      do {
        try await client.monitorConnections(selector) { response in
          for try await event in response.messages { self.handle(event) }
        }
      } catch {
        logger.debug("monitor stream failed", metadata: ["error": "\(error)"])
      }
      if Task.isCancelled { return }
      for mailbox in mailboxes { mailbox.post(.monitorLost) }
      try? await configuration.time.sleep(for: configuration.retryInterval)
    }
  }

  private func handle(_ event: Connection_ConnectionEvent) {
    let held = current.withLock { $0 }
    if event.type == .initialStateTransfer {
      // What happened before the stream was in place counts too: a connection the manager
      // reports DOWN heals, one it does not hold (it restarted) is requested again.
      var reported: [String: Connection_Connection] = [:]
      for connection in event.connections.values where connection.path.index <= 1 {
        if let first = connection.path.pathSegments.first { reported[first.id] = connection }
      }
      for (index, mine) in held {
        if let connection = reported[mine.id] {
          if connection.state == .down { mailboxes[index].post(.down) }
        } else {
          mailboxes[index].post(.monitorLost)
        }
      }
      return
    }
    for connection in event.connections.values where event.type == .delete || connection.state == .down {
      // As upstream's client filter: only the manager's own view of one of ours (index 1).
      guard connection.path.index <= 1, let first = connection.path.pathSegments.first else { continue }
      for (index, mine) in held where mine.id == first.id {
        mailboxes[index].post(.down)
      }
    }
  }

  private func markedDown(_ connection: Connection_Connection) -> Connection_Connection {
    var connection = connection
    connection.state = .down
    return connection
  }

  /// What a user sees change: the endpoint, the route, the addresses, the mechanism, the state.
  static func shape(of connection: Connection_Connection) -> String {
    [
      connection.networkServiceEndpointName,
      connection.path.pathSegments.map(\.name).joined(separator: ">"),
      connection.context.ipContext.srcIpAddrs.joined(separator: ","),
      connection.context.ipContext.dstIpAddrs.joined(separator: ","),
      connection.mechanism.type,
      "\(connection.state.rawValue)",
    ].joined(separator: "|")
  }
}

/// A first Request that did not succeed within the request timeout.
public struct ClientFailure: Error, Sendable, CustomStringConvertible {
  public var service: String
  public var attempts: Int
  public var error: any Error

  public var code: RPCError.Code? { PeerCaller.code(of: error) }

  public var description: String {
    let message =
      switch error {
      case let error as RPCError: error.message
      case let error as NSMError: error.message
      default: "\(error)"
      }
    return "network service '\(service)': \(message) (\(attempts) attempts)"
  }
}
