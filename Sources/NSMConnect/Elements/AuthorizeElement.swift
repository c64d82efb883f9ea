internal import Foundation
internal import Logging
public import NSMAPI
public import NSMCore
internal import NSMSecurity
public import NSMTransport

/// Upstream's `authorize` server with its default policies (reference §6.3), on an mTLS hop:
/// the path up to the caller must be valid tokens (`tokens_valid`), none expired
/// (`tokens_expired`), each for the hop that follows it (`tokens_chained`), the last for this
/// hop and signed by the caller's certificate key (`prev_token_signed`). A denial is
/// PERMISSION_DENIED naming the rule. A plaintext hop has no identities to check.
public struct AuthorizeElement: ConnectElement {
  public let identity: WorkloadIdentity
  public let time: any TimeSource

  public init(identity: WorkloadIdentity, time: any TimeSource = SystemTime()) {
    self.identity = identity
    self.time = time
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    try await check(request.connection, context: context)
    return try await next.request(request, context: context)
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    // A Close carries the path as its caller last saw it; the caller's own token is the one
    // it presents now.
    var connection = connection
    let index = Int(connection.path.index)
    if index >= 1, index <= connection.path.pathSegments.count, let token = context.incomingToken?.token, !token.isEmpty
    {
      connection.path.pathSegments[index - 1].token = token
    }
    // Closing is always safe to accept from the previous hop, also once its tokens expired
    // (a hop closes at expiry and tells the next): the expiry rule does not apply to a Close.
    try await check(connection, context: context, now: .distantPast)
    try await next.close(connection, context: context)
  }

  private func check(_ connection: Connection_Connection, context: ConnectContext, now: Date? = nil) async throws {
    let index = Int(connection.path.index)
    guard index >= 1, index <= connection.path.pathSegments.count else {
      throw NSMError(
        .permissionDenied,
        "policy \(PathPolicies.tokensValid) denies \(context.peer?.id.description ?? "an anonymous caller"): the path has no segment of the caller"
      )
    }
    let facts = PathPolicies.ServerFacts(
      tokens: connection.path.pathSegments[0..<index].map(\.token),
      peerID: context.peer?.id,
      peerKey: context.peer?.key,
      ownID: identity.id,
      now: now ?? time.date
    )
    do {
      try await PathPolicies.checkIncoming(facts)
    } catch {
      context.logger.info("request denied", metadata: ["rule": "\(error.rule)", "reason": "\(error.reason)"])
      throw error.nsmError
    }
  }
}
