internal import Foundation
public import NSMAPI
public import NSMCore
public import NSMTransport
internal import SwiftProtobuf

/// Upstream's `updatetoken` (reference §4.2): the previous segment takes the token and expiry
/// its hop presented (`nsm-client-token`, `nsm-client-token-expires`), and this hop's segment
/// gets a token of its own, signed with its SVID for the caller (plaintext: only an expiry).
///
/// An expiry further out than this hop's own token lifetime is capped to it: the answer carries
/// the capped value back, so the client refreshes in time, and a caller cannot make this hop
/// hold a connection longer than its configuration allows.
public struct TokenElement: ConnectElement {
  public let identity: WorkloadIdentity?
  public let maxTokenLifetime: Duration
  public let time: any TimeSource

  public init(identity: WorkloadIdentity?, maxTokenLifetime: Duration, time: any TimeSource = SystemTime()) {
    self.identity = identity
    self.maxTokenLifetime = maxTokenLifetime
    self.time = time
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    var request = request
    let now = time.date
    let latest = now.addingTimeInterval(maxTokenLifetime.timeInterval)
    let index = Int(request.connection.path.index)
    if index > 0 {
      var previous = request.connection.path.pathSegments[index - 1]
      if let incoming = context.incomingToken {
        if !incoming.token.isEmpty { previous.token = incoming.token }
        if let expires = incoming.expires { previous.expires = Google_Protobuf_Timestamp(date: expires) }
      }
      guard previous.hasExpires else {
        throw NSMError.invalidArgument(
          "path segment \(index - 1) ('\(previous.name)') has no expiry: its hop must send nsm-client-token-expires"
        )
      }
      if previous.expires.date <= now {
        throw NSMError(
          .permissionDenied,
          "path segment \(index - 1) ('\(previous.name)') expired at \(previous.expires.date) [rule: tokens_expired]"
        )
      }
      if previous.expires.date > latest { previous.expires = Google_Protobuf_Timestamp(date: latest) }
      request.connection.path.pathSegments[index - 1] = previous
    }
    var own = request.connection.path.pathSegments[index]
    if let identity {
      let token = try await identity.token(
        for: context.peer?.id,
        peerNotAfter: context.peer?.notAfter,
        maxLifetime: maxTokenLifetime,
        now: now
      )
      own.token = token.text
      own.expires = Google_Protobuf_Timestamp(date: token.claims.expires)
    } else {
      own.token = ""
      own.expires = Google_Protobuf_Timestamp(date: latest)
    }
    request.connection.path.pathSegments[index] = own
    return try await next.request(request, context: context)
  }
}
