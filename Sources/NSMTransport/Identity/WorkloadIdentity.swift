public import Crypto
public import Foundation
public import GRPCNIOTransportHTTP2
public import Logging
internal import NIOCertificateReloading
internal import NIOCore
internal import NIOSSL
public import NSMCore
public import NSMSecurity
internal import Synchronization
public import X509

/// This process's X.509-SVID and trust bundles, read from files and re-read when they change
/// (SVIDs rotate hourly). New TLS connections use what is current; open ones are not touched,
/// so rotation drops no stream. The registry polls the files every second.
public final class WorkloadIdentity: Sendable {
  public let files: SVID.Files
  private let state: Mutex<(svid: SVID, stamp: [Date?])>
  private let logger: Logger
  public init(files: SVID.Files, logger: Logger) throws(NSMError) {
    self.files = files
    self.logger = logger
    let current = try files.current()
    state = Mutex((try SVID.load(current), current.stamp))
  }

  private let reloadHandlers = Mutex<[@Sendable () -> Void]>([])

  /// Runs `handler` after each reload (the peer pool reconnects, so its tokens and its
  /// certificates match again).
  public func onReload(_ handler: @escaping @Sendable () -> Void) {
    reloadHandlers.withLock { $0.append(handler) }
  }

  public var svid: SVID { state.withLock { $0.svid } }
  public var id: SPIFFEID { svid.id }

  /// Re-reads the files when they changed; keeps the current SVID when they are unreadable or
  /// half written (a rotation in progress), to try again on the next poll.
  @discardableResult
  public func reloadIfChanged() -> Bool {
    do {
      let files = try self.files.current()
      let stamp = files.stamp
      guard state.withLock({ $0.stamp != stamp }) else { return false }
      let svid = try SVID.load(files)
      state.withLock { $0 = (svid, stamp) }
      logger.info(
        "reloaded X.509-SVID",
        metadata: [
          "id": "\(svid.id)", "not-after": "\(svid.notAfter)", "trust-domains": "\(svid.bundles.keys.sorted())",
        ]
      )
      for handler in reloadHandlers.withLock({ $0 }) { handler() }
      return true
    } catch {
      logger.warning("cannot reload the X.509-SVID yet: \(error.message)")
      return false
    }
  }

  // MARK: Path tokens

  /// A token for `peer`, expiring at the earliest of now + `maxLifetime`, this SVID's expiry and
  /// the peer certificate's (reference §4.2).
  public func token(
    for peer: SPIFFEID?,
    peerNotAfter: Date?,
    maxLifetime: Duration,
    now: Date = Date()
  ) async throws -> PathToken {
    let svid = self.svid
    var expiry = now.addingTimeInterval(maxLifetime.timeInterval)
    expiry = min(expiry, svid.notAfter)
    if let peerNotAfter { expiry = min(expiry, peerNotAfter) }
    return try await PathToken.sign(
      PathToken.Claims(
        sub: svid.id.description,
        aud: peer.map { [$0.description] } ?? [],
        exp: Int64(expiry.timeIntervalSince1970)
      ),
      with: svid.key
    )
  }

  // MARK: Peer verification

  /// Who a verified peer is.
  public struct Peer: Sendable, Equatable {
    public var id: SPIFFEID
    public var key: P256.Signing.PublicKey?
    public var notAfter: Date

    public static func == (a: Peer, b: Peer) -> Bool {
      a.id == b.id && a.notAfter == b.notAfter && a.key?.rawRepresentation == b.key?.rawRepresentation
    }
  }

  /// The peer of a certificate: its SPIFFE ID and key; nil without a SPIFFE ID.
  public static func peer(of certificate: Certificate) -> Peer? {
    guard let id = SVID.spiffeID(of: certificate) else { return nil }
    return Peer(id: id, key: P256.Signing.PublicKey(certificate.publicKey), notAfter: certificate.notValidAfter)
  }

  /// Verifies a chain a peer presented against the current trust bundles (any federated trust
  /// domain's) and returns the peer; nil when it does not chain to a trusted root, has expired,
  /// or carries no single SPIFFE ID. SPIFFE authenticates by ID, not host name.
  func verify(_ presented: [NIOSSLCertificate]) async -> Peer? {
    let certificates = presented.compactMap { try? Certificate(derEncoded: $0.toDERBytes()) }
    guard certificates.count == presented.count, let leaf = certificates.first,
      let peer = Self.peer(of: leaf)
    else { return nil }
    // Only the bundle of the trust domain the peer claims: a partner's CA cannot vouch for
    // IDs of this (or a third) trust domain.
    guard let roots = svid.bundles[peer.id.trustDomain], !roots.isEmpty else { return nil }
    var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
      RFC5280Policy()
      SPIFFEPolicy()
    }
    let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(certificates.dropFirst())))
    guard case .validCertificate = result else { return nil }
    return peer
  }

  private func verificationCallback(
    remember: (@Sendable (Peer) -> Void)?
  ) -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void {
    { [self] presented, promise in
      Task {
        if let peer = await self.verify(presented) {
          remember?(peer)
          promise.succeed(.certificateVerified(VerificationMetadata(ValidatedCertificateChain(presented))))
        } else {
          self.logger.warning("refused a TLS peer: its certificate does not verify against the trust bundles")
          promise.succeed(.failed)
        }
      }
    }
  }

  // MARK: Transport security

  /// mTLS for a server: a client certificate is required and verified as above.
  public func serverSecurity() throws -> HTTP2ServerTransport.Posix.TransportSecurity {
    let callback = verificationCallback(remember: nil)
    return try .mTLS(certificateReloader: Reloader(identity: self)) { config in
      config.clientCertificateVerification = .noHostnameVerification
      config.trustRoots = .certificates([])
      config.customVerificationCallback = callback
    }
  }

  /// mTLS for a client; the server's identity, once verified, goes to `remember`.
  public func clientSecurity(remember: @escaping @Sendable (Peer) -> Void) throws
    -> HTTP2ClientTransport.Posix
    .TransportSecurity
  {
    let callback = verificationCallback(remember: remember)
    return try .mTLS(certificateReloader: Reloader(identity: self)) { config in
      config.serverCertificateVerification = .noHostnameVerification
      config.trustRoots = .certificates([])
      config.customVerificationCallback = callback
    }
  }

  /// Hands NIO the current certificate and key for each new connection.
  private struct Reloader: CertificateReloader {
    let identity: WorkloadIdentity

    var sslContextConfigurationOverride: NIOSSLContextConfigurationOverride {
      var override = NIOSSLContextConfigurationOverride()
      let svid = identity.svid
      override.certificateChain = svid.chain.compactMap {
        guard let pem = try? $0.serializeAsPEM().pemString else { return nil }
        return (try? NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem)).map { .certificate($0) }
      }
      override.privateKey = (try? NIOSSLPrivateKey(bytes: Array(svid.key.pemRepresentation.utf8), format: .pem))
        .map { .privateKey($0) }
      return override
    }
  }
}
