public import Crypto
public import Foundation
public import NSMCore

/// A path token as upstream NSM makes them (reference §4.2): a JWT signed with ES256 by the
/// workload's own X.509-SVID key, `sub` its SPIFFE ID, `aud` the peer's, `exp` the earliest of
/// now + the longest token lifetime and both certificates' expiry. Not a SPIRE JWT-SVID.
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
      exp = try container.decodeIfPresent(Int64.self, forKey: .exp) ?? 0
    }

    public var expires: Date { Date(timeIntervalSince1970: TimeInterval(exp)) }
  }

  /// The compact serialization, `header.claims.signature`.
  public let text: String
  public let claims: Claims
  private let signingInput: String
  private let signature: Data

  /// Decodes `text`; throws INVALID_ARGUMENT unless it is a well-formed ES256 JWT. The signature
  /// is not checked here (see ``isSigned(by:)``), as upstream's `tokens_valid`.
  public init(decoding text: String) throws(NSMError) {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3,
      let headerData = Self.base64URLDecode(parts[0]),
      let claimsData = Self.base64URLDecode(parts[1]),
      let signature = Self.base64URLDecode(parts[2])
    else {
      throw .invalidArgument("not a JWT (three base64url parts)")
    }
    guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
      header["alg"] as? String == "ES256"
    else {
      throw .invalidArgument("not an ES256 JWT")
    }
    do {
      claims = try JSONDecoder().decode(Claims.self, from: claimsData)
    } catch {
      throw .invalidArgument("the JWT claims are not valid JSON")
    }
    self.text = text
    self.signingInput = "\(parts[0]).\(parts[1])"
    self.signature = signature
  }

  /// Signs `claims` with `key`.
  public static func sign(_ claims: Claims, with key: P256.Signing.PrivateKey) throws -> PathToken {
    let header = base64URLEncode(Data(#"{"alg":"ES256","typ":"JWT"}"#.utf8))
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let body = base64URLEncode(try encoder.encode(claims))
    let input = "\(header).\(body)"
    let signature = try key.signature(for: Data(input.utf8)).rawRepresentation
    return try PathToken(decoding: "\(input).\(base64URLEncode(signature))")
  }

  /// Whether the signature verifies with `key` (the signer's certificate key).
  public func isSigned(by key: P256.Signing.PublicKey) -> Bool {
    guard let signature = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
    return key.isValidSignature(signature, for: Data(signingInput.utf8))
  }

  static func base64URLEncode(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  static func base64URLDecode(_ text: Substring) -> Data? {
    guard text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) || text.isEmpty else {
      return nil
    }
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while base64.count % 4 != 0 { base64 += "=" }
    return Data(base64Encoded: base64)
  }
}
