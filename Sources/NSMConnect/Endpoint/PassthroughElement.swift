internal import Foundation
internal import GRPCCore
internal import Logging
public import NSMAPI
internal import NSMAPIGRPC
public import NSMCore
public import NSMTransport
internal import Synchronization

/// Composition (the seed): this endpoint is a middle box. For each Request it requests a
/// network service itself, through its manager, with its own labels as source labels, and
/// keeps that connection exactly as long as its own: refreshed with it, closed with it. The
/// path carries on, so a client sees every hop of the composed route.
public struct PassthroughElement: ConnectElement {
  public let manager: ServiceAddress
  /// The service to request; nil: the one this endpoint was requested for.
  public let service: String?
  public let labels: [String: String]
  public let inodeURL: String
  public let pool: PeerPool
  public let routes: Routes
  public let identity: WorkloadIdentity?
  public let maxTokenLifetime: Duration
  public let time: any TimeSource
  private let outgoing = Outgoing()

  public init(
    manager: ServiceAddress,
    service: String?,
    labels: [String: String],
    inodeURL: String,
    pool: PeerPool,
    routes: Routes,
    identity: WorkloadIdentity?,
    maxTokenLifetime: Duration,
    time: any TimeSource = SystemTime()
  ) {
    self.manager = manager
    self.service = service
    self.labels = labels
    self.inodeURL = inodeURL
    self.pool = pool
    self.routes = routes
    self.identity = identity
    self.maxTokenLifetime = maxTokenLifetime
    self.time = time
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let id = request.connection.id
    let previous = outgoing.get(id)
    var out = Networkservice_NetworkServiceRequest()
    out.connection = request.connection
    out.connection.networkService = service ?? request.connection.networkService
    out.connection.labels = labels
    out.connection.networkServiceEndpointName = previous?.networkServiceEndpointName ?? ""
    out.connection.mechanism = previous?.mechanism ?? Connection_Mechanism()
    out.connection.context = previous?.context ?? Connectioncontext_ConnectionContext()
    out.connection.state = .up
    out.mechanismPreferences = [
      Mechanisms.kernel(interface: "nsm-out-" + String(id.filter(\.isHexDigit).prefix(7)), inodeURL: inodeURL)
    ]
    var options = CallOptions.defaults
    options.timeout = context.deadline.map { $0 - .now } ?? .seconds(15)
    options.waitForReady = false
    let answer: Connection_Connection
    do {
      answer = try await pool.withConnection(to: manager, caller: manager.description) { connection in
        let metadata = try await ClientToken.metadata(
          identity: identity,
          peer: connection.peer,
          maxTokenLifetime: maxTokenLifetime,
          now: time.date
        )
        return try await Networkservice_NetworkService.Client(wrapping: connection.grpc)
          .request(out, metadata: metadata, options: options) { try $0.message }
      }
    } catch {
      throw Self.wrap(error, service: out.connection.networkService)
    }
    outgoing.set(id, answer)
    routes.set(
      id,
      Route(
        hop: NextHop(address: manager, endpointName: answer.networkServiceEndpointName, viaManager: true),
        mechanism: answer.mechanism
      )
    )
    var request = request
    request.connection.path = answer.path
    return try await next.request(request, context: context)
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    if let out = outgoing.remove(connection.id) {
      routes.remove(connection.id)
      var options = CallOptions.defaults
      options.timeout = context.deadline.map { $0 - .now } ?? .seconds(15)
      do {
        try await pool.withConnection(to: manager, caller: manager.description) { peer in
          let metadata = try await ClientToken.metadata(
            identity: identity,
            peer: peer.peer,
            maxTokenLifetime: maxTokenLifetime,
            now: time.date
          )
          _ = try await Networkservice_NetworkService.Client(wrapping: peer.grpc)
            .close(out, metadata: metadata, options: options) { _ in true }
        }
      } catch {
        // Its manager closes it at expiry in any case.
        context.logger.warning(
          "closing the composed connection failed",
          metadata: ["connection": "\(connection.id)", "error": "\(error)"]
        )
      }
    }
    try await next.close(connection, context: context)
  }

  /// Composed connections held now.
  public var count: Int { outgoing.count }

  static func wrap(_ error: any Error, service: String) -> any Error {
    switch error {
    case let error as RPCError:
      RPCError(code: error.code, message: "the composed network service '\(service)' failed: \(error.message)")
    case let error as NSMError:
      NSMError(error.code, "the composed network service '\(service)' failed: \(error.message)")
    default: error
    }
  }
}

final class Outgoing: Sendable {
  private let connections = Mutex<[String: Connection_Connection]>([:])

  func get(_ id: String) -> Connection_Connection? { connections.withLock { $0[id] } }
  func set(_ id: String, _ connection: Connection_Connection) { connections.withLock { $0[id] = connection } }
  func remove(_ id: String) -> Connection_Connection? { connections.withLock { $0.removeValue(forKey: id) } }
  var count: Int { connections.withLock { $0.count } }
}
