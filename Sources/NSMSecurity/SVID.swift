public import Crypto
public import Foundation
public import NSMCore
public import X509

/// A workload's X.509-SVID and the trust bundles it verifies peers with, as
/// `spire-agent api fetch x509 -write DIR` leaves them: `svid.0.pem` (leaf first, then
/// intermediates), `svid.0.key`, `bundle.0.pem` (its own trust domain's CAs) and, for federated
/// trust domains, `federated_bundle.0.N.pem`.
public struct SVID: Sendable {
  public var chain: [Certificate]
  public var key: P256.Signing.PrivateKey
  public var id: SPIFFEID
  /// The CA certificates trusted, per trust domain: a peer's chain is verified only against
  /// the bundle of the trust domain its SPIFFE ID names, so a federated CA cannot issue IDs
  /// of another trust domain.
  public var bundles: [String: [Certificate]]

  /// Every CA certificate trusted, from all bundles.
  public var trustRoots: [Certificate] { bundles.keys.sorted().flatMap { bundles[$0] ?? [] } }

  public var notAfter: Date { chain[0].notValidAfter }

  public init(chain: [Certificate], key: P256.Signing.PrivateKey, bundles: [String: [Certificate]]) throws(NSMError) {
    guard let leaf = chain.first else { throw .invalidArgument("the SVID has no certificate") }
    guard let id = Self.spiffeID(of: leaf) else {
      throw .invalidArgument("the SVID certificate has no spiffe:// URI SAN")
    }
    guard leaf.publicKey == Certificate.PublicKey(key.publicKey) else {
      throw .invalidArgument("the SVID key does not belong to its certificate")
    }
    self.chain = chain
    self.key = key
    self.id = id
    self.bundles = bundles
  }

  /// Where the files are.
  public struct Files: Sendable, Equatable {
    public var certificate: String
    public var key: String
    /// Bundle files; in a directory, every `bundle*.pem` and `federated_bundle*.pem`.
    public var bundles: [String]
    /// Set for the spire-agent layout: its bundle files are listed again on each reload, so a
    /// newly federated trust domain is picked up.
    public var directory: String?

    public init(certificate: String, key: String, bundles: [String], directory: String? = nil) {
      self.certificate = certificate
      self.key = key
      self.bundles = bundles
      self.directory = directory
    }

    /// The files as they are now (a directory listed again); throws when it cannot be listed.
    public func current() throws(NSMError) -> Files {
      guard let directory else { return self }
      var files = try Files.directory(directory)
      files.certificate = certificate
      files.key = key
      return files
    }

    /// The spire-agent layout in `directory`; throws, saying why, when it cannot be listed.
    public static func directory(_ directory: String) throws(NSMError) -> Files {
      let names: [String]
      do {
        names = try FileManager.default.contentsOfDirectory(atPath: directory)
      } catch {
        throw .invalidArgument("cannot list the SVID folder \(directory): \(Self.reason(error))")
      }
      // bundle.0.pem first: the own trust domain's.
      let bundles = names.filter {
        ($0.hasPrefix("bundle") || $0.hasPrefix("federated_bundle")) && $0.hasSuffix(".pem")
      }.sorted { ($0 == "bundle.0.pem" ? 0 : 1, $0) < ($1 == "bundle.0.pem" ? 0 : 1, $1) }.map { "\(directory)/\($0)" }
      return Files(
        certificate: "\(directory)/svid.0.pem",
        key: "\(directory)/svid.0.key",
        bundles: bundles,
        directory: directory
      )
    }

    static func reason(_ error: any Error) -> String {
      (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }

    /// The newest modification time among the files, to notice rotation.
    public var stamp: [Date?] {
      ([certificate, key] + bundles).map {
        (try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate]) as? Date
      }
    }
  }

  public static func load(_ files: Files) throws(NSMError) -> SVID {
    let chain = try certificates(in: files.certificate)
    let keyText = try read(files.key, what: "the SVID key")
    let key: P256.Signing.PrivateKey
    do {
      key = try P256.Signing.PrivateKey(pemRepresentation: keyText)
    } catch {
      throw .invalidArgument("\(files.key) is not a PEM P-256 private key (PKCS#8 or SEC1)")
    }
    guard let ownID = chain.first.flatMap(spiffeID(of:)) else {
      throw .invalidArgument("\(files.certificate): the SVID certificate has no spiffe:// URI SAN")
    }
    // A CA names its trust domain in a spiffe://TD URI SAN (SPIRE's and nsm cert's do); the
    // first bundle file (bundle.0.pem) is the own trust domain's whatever its CAs say.
    var bundles: [String: [Certificate]] = [:]
    for (index, bundle) in files.bundles.enumerated() {
      for certificate in try certificates(in: bundle) {
        guard let domain = spiffeID(of: certificate)?.trustDomain ?? (index == 0 ? ownID.trustDomain : nil) else {
          throw .invalidArgument(
            "\(bundle): a CA certificate without a spiffe://TRUST-DOMAIN URI SAN; its trust domain is unknown"
          )
        }
        bundles[domain, default: []].append(certificate)
      }
    }
    if bundles[ownID.trustDomain] == nil {
      throw .invalidArgument("no trust bundle for \(ownID.trustDomain): give bundle.0.pem (or --tls-bundle)")
    }
    return try SVID(chain: chain, key: key, bundles: bundles)
  }

  /// The certificates of a PEM file, in order.
  public static func certificates(in path: String) throws(NSMError) -> [Certificate] {
    let text = try read(path, what: "the certificate file")
    do {
      let end = "-----END CERTIFICATE-----"
      let blocks = text.components(separatedBy: end).dropLast().map { $0 + end }
      let certificates = try blocks.map { try Certificate(pemEncoded: String($0.drop { $0 != "-" })) }
      if certificates.isEmpty { throw NSMError.invalidArgument("\(path) holds no certificate") }
      return certificates
    } catch let error as NSMError {
      throw error
    } catch {
      throw .invalidArgument("\(path) is not a PEM certificate file: \(error)")
    }
  }

  /// The one `spiffe://` URI SAN of a certificate.
  public static func spiffeID(of certificate: Certificate) -> SPIFFEID? {
    guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
    let uris = names.compactMap { name -> String? in
      if case .uniformResourceIdentifier(let uri) = name, uri.hasPrefix("spiffe://") { return uri }
      return nil
    }
    guard uris.count == 1 else { return nil }
    return try? SPIFFEID(parsing: uris[0])
  }

  /// The file's text; throws saying why it cannot be read (missing, not permitted, a folder).
  private static func read(_ path: String, what: String) throws(NSMError) -> String {
    do {
      return String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    } catch {
      throw .invalidArgument("cannot read \(what) \(path): \(Files.reason(error))")
    }
  }
}
