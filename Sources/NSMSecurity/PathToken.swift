public import Crypto
public import Foundation
internal import JWTKit
public import NSMCore
internal import Synchronization

/// A path token as upstream NSM makes them (reference §4.2): a JWT signed with ES256 by the
/// workload's own X.509-SVID key, `sub` its SPIFFE ID, `aud` the peer's, `exp` the earliest of
/// now + the longest token lifetime and both certificates' expiry. Not a SPIRE JWT-SVID.
///
/// Encoding, parsing and signatures are jwt-kit's (vapor/jwt-kit); this type only adds NSM's
/// claims and the keys of the SVIDs involved.
public struct PathToken: Sendable, Equatable {
  public struct Claims: Sendable, Equatable, Codable {
    public var sub: String
    public var aud: [String]
    /// Seconds since 1970.
    public var exp: Int64

    public init(sub: String, aud: [String], exp: Int64) {
      self.sub = sub
      self.aud = aud
      self.exp = exp
    }

    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      sub = try container.decodeIfPresent(String.self, forKey: .sub) ?? ""
      // RFC 7519 allows a single string or an array.
      if let single = try? container.decode(String.self, forKey: .aud) {
        aud = [single]
      } else {
        aud = try container.decodeIfPresent([String].self, forKey: .aud) ?? []
      }
      // A NumericDate may carry a fraction; NSM's are whole seconds.
      exp = Int64(try container.decodeIfPresent(Double.self, forKey: .exp) ?? 0)
    }

    public var expires: Date { Date(timeIntervalSince1970: TimeInterval(exp)) }
  }

  /// The compact serialization, `header.claims.signature`.
  public let text: String
  public let claims: Claims

  /// Decodes `text`; throws INVALID_ARGUMENT unless it is a well-formed ES256 JWT. The signature
  /// is not checked here (see ``isSigned(by:)``), as upstream's `tokens_valid`.
  public init(decoding text: String) throws(NSMError) {
    let parsed: (header: JWTHeader, payload: Payload, signature: Data)
    do {
      parsed = try DefaultJWTParser().parse(Array(text.utf8), as: Payload.self)
    } catch {
      throw .invalidArgument("not a JWT (three base64url parts with a JSON header and claims)")
    }
    guard parsed.header.alg == "ES256" else { throw .invalidArgument("not an ES256 JWT") }
    self.text = text
    self.claims = parsed.payload.claims
  }

  private init(text: String, claims: Claims) {
    self.text = text
    self.claims = claims
  }

  /// Signs `claims` with `key`.
  public static func sign(_ claims: Claims, with key: P256.Signing.PrivateKey) async throws -> PathToken {
    let keys = try await KeyCache.signing.collection(for: key.publicKey) {
      await JWTKeyCollection().add(ecdsa: try ES256PrivateKey(backing: key))
    }
    return PathToken(text: try await keys.sign(Payload(claims: claims)), claims: claims)
  }

  /// Whether the signature verifies with `key` (the signer's certificate key).
  public func isSigned(by key: P256.Signing.PublicKey) async -> Bool {
    do {
      let keys = try await KeyCache.verifying.collection(for: key) {
        await JWTKeyCollection().add(ecdsa: try ES256PublicKey(backing: key))
      }
      _ = try await keys.verify(text, as: Payload.self)
      return true
    } catch {
      return false
    }
  }
}

/// The claims as jwt-kit reads and writes them. Expiry is not checked here: `tokens_expired`
/// checks it, with the registry's clock and its own rule name.
private struct Payload: JWTPayload {
  var claims: PathToken.Claims

  init(claims: PathToken.Claims) {
    self.claims = claims
  }

  init(from decoder: any Decoder) throws {
    claims = try PathToken.Claims(from: decoder)
  }

  func encode(to encoder: any Encoder) throws {
    try claims.encode(to: encoder)
  }

  func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// jwt-kit keeps keys in a collection (an actor); making one per token would double the cost of
/// a signature, so the collections of the few keys in use are kept, a bounded number of them.
private final class KeyCache: Sendable {
  static let signing = KeyCache()
  static let verifying = KeyCache()
  static let capacity = 256

  private let collections = Mutex<[Data: JWTKeyCollection]>([:])

  func collection(
    for key: P256.Signing.PublicKey,
    make: () async throws -> JWTKeyCollection
  ) async throws -> JWTKeyCollection {
    let id = key.rawRepresentation
    if let known = collections.withLock({ $0[id] }) { return known }
    let made = try await make()
    collections.withLock { collections in
      // Rotated SVIDs and passing peers: beyond the capacity, start over.
      if collections.count >= Self.capacity { collections = [:] }
      collections[id] = made
    }
    return made
  }
}
