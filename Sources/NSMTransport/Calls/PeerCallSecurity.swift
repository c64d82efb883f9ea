public import GRPCCore
public import NSMCore

/// What a secured hop adds to a call to a peer and checks on the peer's answer: upstream NSM's
/// path (this hop's token for the peer) and `next_token_signed`.
public protocol PeerCallSecurity: Sendable {
  /// The metadata to send to `peer`.
  func outgoing(to peer: WorkloadIdentity.Peer) async throws -> PeerCallCredentials
  /// Checks the metadata the peer answered with; throws ``PeerAnswerRejected`` when the peer
  /// did not sign what it must.
  func verify(answer: Metadata, sent: PeerCallCredentials, peer: WorkloadIdentity.Peer) async throws
}

/// What one call to a peer carries: the metadata, and this hop's index in the path it sent.
public struct PeerCallCredentials: Sendable {
  public var metadata: Metadata
  public var index: Int

  public init(metadata: Metadata, index: Int) {
    self.metadata = metadata
    self.index = index
  }
}

/// The peer's answer failed verification. Typically the peer rotated its SVID and signs with
/// its new key, while the pooled connection still holds the certificate of its first handshake:
/// the call is made once more on a new connection, and only then refused with ``error``.
public struct PeerAnswerRejected: Error, Sendable {
  public var error: NSMError

  public init(_ error: NSMError) {
    self.error = error
  }
}
