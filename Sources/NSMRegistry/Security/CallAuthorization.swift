public import Foundation
public import GRPCCore
internal import Logging
internal import NSMCore
public import NSMSecurity
public import NSMTransport

/// What a secured registry established about a call, for the elements after authorization:
/// who started it, the path this hop continues, and the policy to apply.
public struct CallAuthorization: Sendable {
  /// The originating workload (`sub` of path segment 0): the identity domain grants and
  /// registrant checks apply to.
  public var originator: String
  /// The incoming tokens, then this registry's own (for the caller).
  public var path: RegistryPath
  public var policy: DomainPolicy
  public var identity: WorkloadIdentity
  public var maxTokenLifetime: Duration
  let denials: DenialCounter
  let logger: Logger

  /// The SPIFFE IDs of the hops, origin first: what `path_ids` records.
  public var pathIDs: [String] {
    path.tokens.compactMap { try? PathToken(decoding: $0).claims.sub }
  }

  func checkLocal(_ operation: RegistryOperation, name: String, domain: String) throws(NSMError) {
    do {
      try policy.checkLocal(identity: originator, operation: operation, name: name, domain: domain)
    } catch {
      throw denials.deny(error, logger: logger)
    }
  }

  func checkForward(_ operation: RegistryOperation, domain: String) throws(NSMError) {
    do throws(PolicyDenial) {
      // A registry forwards for its own trust domain's workloads only: it is their voucher.
      if (try? SPIFFEID(parsing: originator))?.trustDomain != identity.id.trustDomain {
        throw PolicyDenial(
          rule: DomainPolicy.rule,
          identity: originator,
          reason: "\(identity.id) forwards only calls of its own trust domain's workloads; call your own registry"
        )
      }
      try policy.checkForward(identity: originator, operation: operation, domain: domain)
    } catch {
      throw denials.deny(error, logger: logger)
    }
  }

  /// Whether the policy lets the originator see `name` (without `@domain`) of `domain`: Find
  /// results and watch events are filtered by the grants' name patterns.
  func mayFind(name: String, domain: String) -> Bool {
    (try? policy.checkLocal(identity: originator, operation: .find, name: name, domain: domain)) != nil
  }

  /// When the earliest incoming token expires: a forwarded watch cannot reconnect after it.
  var incomingExpiry: Date? {
    path.tokens.dropLast().compactMap { try? PathToken(decoding: $0).claims.expires }.min()
  }

  /// When the earliest token of the path expires, this registry's own included: what an
  /// endpoint's lease may not outlive (upstream's expire element, reference §5.1).
  public var tokenExpiry: Date? {
    path.tokens.compactMap { try? PathToken(decoding: $0).claims.expires }.min()
  }
}

extension CallAuthorization: PeerCallSecurity {
  /// The path to send to the next registry (`peer`): the incoming tokens and this registry's
  /// token for that peer, with this registry's index.
  public func outgoing(to peer: WorkloadIdentity.Peer) async throws -> PeerCallCredentials {
    var tokens = Array(path.tokens.dropLast())
    tokens.append(
      try await identity.token(for: peer.id, peerNotAfter: peer.notAfter, maxLifetime: maxTokenLifetime).text
    )
    let path = RegistryPath(index: tokens.count - 1, tokens: tokens)
    return PeerCallCredentials(metadata: [RegistryPath.metadataKey: .string(path.json)], index: path.index)
  }

  /// `next_token_signed`: the peer's answer carries its path, whose token after ours the peer
  /// signed. A peer that returns no path (a Go NSM registry) fails it, as upstream's client.
  public func verify(answer: Metadata, sent: PeerCallCredentials, peer: WorkloadIdentity.Peer) async throws {
    do throws(PolicyDenial) {
      let text = answer[stringValues: RegistryPath.metadataKey].first(where: { _ in true })
      let tokens = (text.flatMap { try? RegistryPath(json: $0) })?.tokens ?? []
      try await PathPolicies.checkNext(tokens: tokens, ownIndex: sent.index, serverID: peer.id, serverKey: peer.key)
    } catch {
      throw PeerAnswerRejected(denials.deny(error, logger: logger))
    }
  }
}

/// Checks the path of each incoming call on a secured registry (upstream's server policies)
/// and continues it with this registry's own token.
struct CallAuthorizer: Sendable {
  let security: SecurityConfiguration
  let served: ServedDomains
  let denials: DenialCounter

  /// nil on a plaintext registry.
  func authorize(metadata: Metadata, peer: WorkloadIdentity.Peer?, now: Date, logger: Logger) async throws(NSMError)
    -> CallAuthorization?
  {
    guard let identity = security.identity else { return nil }
    let path =
      try metadata[stringValues: RegistryPath.metadataKey].first(where: { _ in true })
      .map { text throws(NSMError) in try RegistryPath(json: text) } ?? RegistryPath()
    let incoming = Array(path.tokens.prefix(path.index + 1))
    let policy =
      security.policy?.policy
      ?? DomainPolicy.ownTrustDomainOnly(identity.id.trustDomain, registryID: identity.id.description, served: served)
    let decoded: [PathToken]
    do {
      decoded = try await PathPolicies.checkIncoming(
        PathPolicies.ServerFacts(
          tokens: incoming,
          peerID: peer?.id,
          peerKey: peer?.key,
          ownID: identity.id,
          now: now
        )
      )
      // More than one token: the caller forwards for someone else.
      if decoded.count >= 2, let peer { try policy.checkForwarder(peer.id, originator: decoded[0].claims.sub) }
    } catch {
      throw denials.deny(error, logger: logger)
    }
    let own: PathToken
    do {
      own = try await identity.token(
        for: peer?.id,
        peerNotAfter: peer?.notAfter,
        maxLifetime: security.maxTokenLifetime,
        now: now
      )
    } catch {
      throw NSMError(.internal, "cannot sign a path token: \(error)")
    }
    let tokens = incoming + [own.text]
    return CallAuthorization(
      originator: decoded[0].claims.sub,
      path: RegistryPath(index: tokens.count - 1, tokens: tokens),
      policy: policy,
      identity: identity,
      maxTokenLifetime: security.maxTokenLifetime,
      denials: denials,
      logger: logger
    )
  }
}
