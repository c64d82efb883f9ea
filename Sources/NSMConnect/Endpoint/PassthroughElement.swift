internal import Foundation
internal import GRPCCore
internal import Logging
public import NSMAPI
internal import NSMAPIGRPC
public import NSMCore
internal import NSMTransport

/// Composition (the seed): this endpoint is a middle box. For each Request it requests a
/// network service itself, through its manager, with its own labels as source labels, and
/// keeps that connection exactly as long as its own: refreshed with it, closed with it. The
/// path carries on, so a client sees every hop of the composed route.
///
/// The middle box is a bump in the wire, as upstream's passthrough endpoints are: it hands out
/// no addresses of its own; the client gets the IP context of the next endpoint (which keeps
/// the client's addresses across a heal as it would for a direct client), and with a data
/// plane (``CrossConnectElement``) its packets cross this namespace unchanged.
public struct PassthroughElement: ConnectElement {
  public let manager: ServiceAddress
  /// The service to request; nil: the one this endpoint was requested for.
  public let service: String?
  public let labels: [String: String]
  public let inodeURL: String
  public let caller: NextHopCaller
  public let routes: Routes
  private let outgoing = PerConnection<Connection_Connection>()

  public init(
    manager: ServiceAddress,
    service: String?,
    labels: [String: String],
    inodeURL: String,
    caller: NextHopCaller,
    routes: Routes
  ) {
    self.manager = manager
    self.service = service
    self.labels = labels
    self.inodeURL = inodeURL
    self.caller = caller
    self.routes = routes
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
    // The client's own context on its first Request through this box (after a heal it holds
    // addresses the next endpoint should keep), the composed connection's afterwards.
    out.connection.context = previous?.context ?? request.connection.context
    out.connection.state = .up
    out.mechanismPreferences = [
      Mechanisms.kernel(interface: Self.outgoingInterface(of: id), inodeURL: inodeURL)
    ]
    let answer: Connection_Connection
    do {
      answer = try await caller.request(out, at: manager, deadline: context.deadline)
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
    request.connection.context = answer.context
    return try await next.request(request, context: context)
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    if let out = outgoing.remove(connection.id) {
      routes.remove(connection.id)
      do {
        try await caller.close(out, at: manager, deadline: context.deadline)
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

  /// The interface of the composed connection in this endpoint's namespace.
  public static func outgoingInterface(of id: String) -> String {
    "nsm-out-" + String(id.filter(\.isHexDigit).prefix(7))
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
