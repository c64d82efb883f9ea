public import Crypto
public import Foundation

/// Upstream NSM's default registry policies (reference §6.3), each by its name, checked in
/// upstream's order; the first that fails denies.
public enum PathPolicies {
  /// What a registry server knows about a call.
  public struct ServerFacts: Sendable {
    /// The incoming path's tokens, segment 0 (the originating workload) to the caller's own.
    public var tokens: [String]
    /// The TLS peer: the caller.
    public var peerID: SPIFFEID?
    public var peerKey: P256.Signing.PublicKey?
    /// This registry's own identity.
    public var ownID: SPIFFEID
    public var now: Date

    public init(tokens: [String], peerID: SPIFFEID?, peerKey: P256.Signing.PublicKey?, ownID: SPIFFEID, now: Date) {
      self.tokens = tokens
      self.peerID = peerID
      self.peerKey = peerKey
      self.ownID = ownID
      self.now = now
    }
  }

  public static let tokensValid = "tokens_valid"
  public static let tokensExpired = "tokens_expired"
  public static let tokensChained = "tokens_chained"
  public static let prevTokenSigned = "prev_token_signed"
  public static let nextTokenSigned = "next_token_signed"
  public static let registryClientAllowed = "registry_client_allowed"

  /// Checks the path of an incoming call; returns its decoded tokens.
  @discardableResult
  public static func checkIncoming(_ facts: ServerFacts) async throws(PolicyDenial) -> [PathToken] {
    let caller = facts.peerID?.description ?? ""
    guard !facts.tokens.isEmpty else {
      throw PolicyDenial(rule: tokensValid, identity: caller, reason: "the call carries no path token")
    }
    var decoded: [PathToken] = []
    for (index, text) in facts.tokens.enumerated() {
      do {
        decoded.append(try PathToken(decoding: text))
      } catch {
        throw PolicyDenial(rule: tokensValid, identity: caller, reason: "path segment \(index): \(error.message)")
      }
    }
    for (index, token) in decoded.enumerated() where token.claims.expires <= facts.now {
      throw PolicyDenial(
        rule: tokensExpired,
        identity: token.claims.sub,
        reason:
          "the token of path segment \(index) expired at \(ISO8601DateFormatter().string(from: token.claims.expires))"
      )
    }
    for index in decoded.indices.dropLast() {
      let next = decoded[index + 1].claims.sub
      if !decoded[index].claims.aud.contains(next) {
        throw PolicyDenial(
          rule: tokensChained,
          identity: decoded[index].claims.sub,
          reason:
            "the token of path segment \(index) is for \(decoded[index].claims.aud), not for \(next), who comes next"
        )
      }
    }
    let last = decoded[decoded.count - 1]
    if !last.claims.aud.contains(facts.ownID.description) {
      throw PolicyDenial(
        rule: tokensChained,
        identity: last.claims.sub,
        reason: "the caller's token is for \(last.claims.aud), not for this registry (\(facts.ownID))"
      )
    }
    guard let peerKey = facts.peerKey, let peerID = facts.peerID else {
      throw PolicyDenial(rule: prevTokenSigned, identity: caller, reason: "the caller presented no certificate")
    }
    let signed = await last.isSigned(by: peerKey)
    if last.claims.sub != peerID.description || !signed {
      throw PolicyDenial(
        rule: prevTokenSigned,
        identity: peerID.description,
        reason: "the caller's token (sub \(last.claims.sub)) is not signed by the key of the caller's certificate"
      )
    }
    return decoded
  }

  /// `registry_client_allowed`: only the identity that first registered a name may refresh or
  /// unregister it. `registrant` is what the store keeps for the name (nil when it is new).
  public static func checkRegistrant(
    requester: String,
    registrant: String?,
    name: String,
    operation: RegistryOperation
  ) throws(PolicyDenial) {
    guard operation != .find, let registrant, !registrant.isEmpty, registrant != requester else { return }
    throw PolicyDenial(
      rule: registryClientAllowed,
      identity: requester,
      reason: "'\(name)' was registered by \(registrant); only it may \(operation.rawValue) it"
    )
  }

  /// `next_token_signed`, on the client side: the server's token (the segment after ours)
  /// is signed by the server's certificate key.
  public static func checkNext(
    tokens: [String],
    ownIndex: Int,
    serverID: SPIFFEID?,
    serverKey: P256.Signing.PublicKey?
  ) async throws(PolicyDenial) {
    let server = serverID?.description ?? ""
    guard ownIndex + 1 < tokens.count, let token = try? PathToken(decoding: tokens[ownIndex + 1]) else {
      throw PolicyDenial(rule: nextTokenSigned, identity: server, reason: "the response carries no token of the server")
    }
    var signed = false
    if let serverKey { signed = await token.isSigned(by: serverKey) }
    guard token.claims.sub == server, signed else {
      throw PolicyDenial(
        rule: nextTokenSigned,
        identity: server,
        reason: "the server's token (sub \(token.claims.sub)) is not signed by the server's certificate key"
      )
    }
  }
}
