public import NSMSecurity

/// How a server authenticates and authorizes (docs/security.md). Without an identity it runs
/// plaintext and checks nothing (`--insecure`).
public struct SecurityConfiguration: Sendable {
  /// This server's SVID and trust bundles; nil for plaintext.
  public var identity: WorkloadIdentity?
  /// The domain policy; nil for the default (own trust domain only).
  public var policy: PolicySource?
  /// The longest a path token this server signs lives (`NSM_MAX_TOKEN_LIFETIME`).
  public var maxTokenLifetime: Duration = .seconds(600)

  public init() {}
}
