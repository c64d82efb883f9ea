public import NSMStore
public import GRPCCore
public import NSMCore

/// A record a registry can forward to another domain's registry: how its names route and
/// translate, what changes when it leaves its home domain, and the remote calls for its kind.
public protocol FederatedRecord: RegistryRecord {
  static func route(_ record: Self, served: ServedDomains, implied: String?) throws(NSMError) -> DomainTranslation.Route

  /// Whether found records are reached through their domain's proxy gateway (endpoints are,
  /// services are not).
  static var reachedThroughGateway: Bool { get }

  /// Without `@domain` on any name.
  func stripped(domain: String) -> Self
  /// With `@domain` on every name.
  func joined(domain: String) -> Self

  /// What a registration carries into another domain's registry: an endpoint is reached there
  /// through this domain's gateway (`publicURL`) and carries this domain's cluster labels.
  func leavingHome(publicURL: String?, clusterLabels: [String: String]) -> Self
  /// The registrant's view of what the other domain stored: its own URL, not the gateway's.
  func returningHome(from original: Self) -> Self
  /// A record found in another domain, as callers here see it: an endpoint is reached through
  /// that domain's gateway when it publishes one.
  func arriving(gatewayURL: String?) -> Self

  /// The event a Find response carries; nil for the marker that ends a watch's initial matches.
  static func event(from response: Response) -> RecordEvent<Self>?
  /// The marker that ends a watch's initial matches (see ``ForwardingInfo``).
  static var snapshotMarker: Response { get }

  /// The stored record and the response metadata (the peer's path, for `next_token_signed`).
  static func register(_ record: Self, on client: RegistryClient, options: CallOptions, metadata: Metadata)
    async throws -> (Self, Metadata)
  static func unregister(_ record: Self, on client: RegistryClient, options: CallOptions, metadata: Metadata)
    async throws -> Metadata
  /// Opens a Find and hands its response metadata and stream of responses to `handle`; the
  /// call ends when it returns.
  static func find<Result: Sendable>(
    _ query: Self,
    watch: Bool,
    on client: RegistryClient,
    options: CallOptions,
    metadata: Metadata,
    handle: @escaping @Sendable (Metadata, RPCAsyncSequence<Response, any Error>) async throws -> Result
  ) async throws -> Result
}

extension FederatedRecord {
  public static var reachedThroughGateway: Bool { false }
  public func leavingHome(publicURL: String?, clusterLabels: [String: String]) -> Self { self }
  public func returningHome(from original: Self) -> Self { self }
  public func arriving(gatewayURL: String?) -> Self { self }
}
