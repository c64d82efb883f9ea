public import Crypto
public import Foundation
internal import NSMCore
public import X509

#if canImport(Glibc)
  internal import Glibc
#endif

/// A development CA for one trust domain, issuing X.509-SVIDs in spire-agent's file layout
/// (`nsm cert`). For demos and tests; production SVIDs come from SPIRE.
public struct CertificateAuthority: Sendable {
  public let trustDomain: String
  public let certificate: Certificate
  public let key: P256.Signing.PrivateKey

  /// A new self-signed CA valid for `lifetime`.
  public static func create(trustDomain: String, lifetime: TimeInterval = 365 * 86400) throws -> CertificateAuthority {
    let id = try SPIFFEID(parsing: "spiffe://\(trustDomain)")
    let key = P256.Signing.PrivateKey()
    let name = try DistinguishedName {
      OrganizationName("swift-nsm development CA")
      CommonName(trustDomain)
    }
    let now = Date()
    let certificate = try Certificate(
      version: .v3,
      serialNumber: Certificate.SerialNumber(),
      publicKey: .init(key.publicKey),
      notValidBefore: now.addingTimeInterval(-300),
      notValidAfter: now.addingTimeInterval(lifetime),
      issuer: name,
      subject: name,
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
        Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
        SubjectAlternativeNames([.uniformResourceIdentifier(id.description)])
      },
      issuerPrivateKey: .init(key)
    )
    return CertificateAuthority(trustDomain: trustDomain, certificate: certificate, key: key)
  }

  /// Loads a CA written by ``write(to:)``.
  public static func load(directory: String) throws -> CertificateAuthority {
    let certificate = try SVID.certificates(in: "\(directory)/ca.pem")[0]
    let keyText = String(decoding: FileManager.default.contents(atPath: "\(directory)/ca.key") ?? Data(), as: UTF8.self)
    let key = try P256.Signing.PrivateKey(pemRepresentation: keyText)
    guard let id = SVID.spiffeID(of: certificate) else {
      throw NSMError.invalidArgument("\(directory)/ca.pem has no spiffe:// URI SAN")
    }
    return CertificateAuthority(trustDomain: id.trustDomain, certificate: certificate, key: key)
  }

  /// `ca.pem`, `ca.key` (mode 0600).
  public func write(to directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try Self.write(try certificate.serializeAsPEM().pemString + "\n", to: "\(directory)/ca.pem", secret: false)
    try Self.write(key.pemRepresentation + "\n", to: "\(directory)/ca.key", secret: true)
  }

  /// An SVID for `id` (in this trust domain), valid from now for `lifetime`.
  public func issue(
    _ id: SPIFFEID,
    lifetime: TimeInterval = 3600,
    now: Date = Date()
  ) throws -> (certificate: Certificate, key: P256.Signing.PrivateKey) {
    guard id.trustDomain == trustDomain else {
      throw NSMError.invalidArgument("\(id) is not in trust domain \(trustDomain)")
    }
    let key = P256.Signing.PrivateKey()
    let certificate = try Certificate(
      version: .v3,
      serialNumber: Certificate.SerialNumber(),
      publicKey: .init(key.publicKey),
      notValidBefore: now.addingTimeInterval(-60),
      notValidAfter: now.addingTimeInterval(lifetime),
      issuer: self.certificate.subject,
      subject: try DistinguishedName { OrganizationName("SPIFFE") },
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.notCertificateAuthority)
        Critical(KeyUsage(digitalSignature: true, keyEncipherment: true, keyAgreement: true))
        try ExtendedKeyUsage([.serverAuth, .clientAuth])
        SubjectAlternativeNames([.uniformResourceIdentifier(id.description)])
      },
      issuerPrivateKey: .init(self.key)
    )
    return (certificate, key)
  }

  /// Writes an SVID for `id` into `directory` as spire-agent does: `svid.0.pem`, `svid.0.key`,
  /// `bundle.0.pem` (this CA), and `federated_bundle.0.N.pem` for each of `federated`.
  public func writeSVID(
    _ id: SPIFFEID,
    to directory: String,
    federated: [CertificateAuthority] = [],
    lifetime: TimeInterval = 3600,
    now: Date = Date()
  ) throws {
    let (certificate, key) = try issue(id, lifetime: lifetime, now: now)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // Key first: a reader that sees the new certificate must find its key.
    try Self.write(key.pemRepresentation + "\n", to: "\(directory)/svid.0.key", secret: true)
    try Self.write(try certificate.serializeAsPEM().pemString + "\n", to: "\(directory)/svid.0.pem", secret: false)
    try Self.write(
      try self.certificate.serializeAsPEM().pemString + "\n",
      to: "\(directory)/bundle.0.pem",
      secret: false
    )
    for (index, other) in federated.enumerated() {
      try Self.write(
        try other.certificate.serializeAsPEM().pemString + "\n",
        to: "\(directory)/federated_bundle.0.\(index).pem",
        secret: false
      )
    }
  }

  /// Atomically (write to a temporary file, rename), so a reloading reader never sees half.
  static func write(_ text: String, to path: String, secret: Bool) throws {
    let temporary = path + ".tmp-\(UUID().uuidString.prefix(8))"
    guard
      FileManager.default.createFile(
        atPath: temporary,
        contents: Data(text.utf8),
        attributes: [.posixPermissions: secret ? 0o600 : 0o644]
      )
    else { throw NSMError.invalidArgument("cannot write \(path)") }
    guard rename(temporary, path) == 0 else {
      try? FileManager.default.removeItem(atPath: temporary)
      throw NSMError.invalidArgument("cannot write \(path) (errno \(errno))")
    }
  }
}
