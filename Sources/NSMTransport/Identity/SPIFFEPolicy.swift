internal import NSMSecurity
internal import SwiftASN1
internal import X509

/// The X.509-SVID rule on top of RFC 5280: the leaf names exactly one `spiffe://` ID in its URI
/// SAN (which SPIFFE allows to be critical, so the verifier must know this policy handles it).
struct SPIFFEPolicy: VerifierPolicy {
  let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.subjectAlternativeName]

  func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
    SVID.spiffeID(of: chain.leaf) == nil
      ? .failsToMeetPolicy(reason: "the leaf certificate does not name exactly one spiffe:// ID")
      : .meetsPolicy
  }
}
