internal import GRPCCore
internal import Logging
public import NSMCore
public import NSMTransport

/// Calls another domain's registry: resolves the domain, then calls its addresses through the
/// shared peer-call core (``PeerCaller``) with the forwarding metadata and the caller's path.
public struct RegistryForwarder: Sendable {
  public let directory: any DomainDirectory
  public let caller: PeerCaller
  /// The deadline a forwarded call gets when its caller set none (watches excepted), so a
  /// peer that accepts connections but never answers cannot hold a caller forever.
  public var defaultTimeout: Duration

  public init(directory: any DomainDirectory, caller: PeerCaller, defaultTimeout: Duration = .seconds(15)) {
    self.directory = directory
    self.caller = caller
    self.defaultTimeout = defaultTimeout
  }

  /// The metadata a call forwarded for `domain` carries: one more hop, and the domain unless it
  /// is a `host:port` literal (which names a registry, not a domain it could tell apart).
  static func forwarding(_ context: RegistryContext, to domain: String, snapshotMarker: Bool = false) -> ForwardingInfo
  {
    ForwardingInfo(
      hops: context.forwarding.hops + 1,
      domain: DomainName.splitHostPort(domain) == nil ? domain : nil,
      wantsSnapshotMarker: snapshotMarker
    )
  }

  /// Runs `body` against `domain`'s registry (see ``PeerCaller/call(_:target:caller:deadline:defaultTimeout:metadata:security:logger:_:)``).
  /// A watch (`watch: true`) has no deadline and asks for the snapshot marker.
  func call<Result: Sendable>(
    _ verb: String,
    domain: String,
    context: RegistryContext,
    watch: Bool = false,
    body: @escaping @Sendable (PeerAttempt) async throws -> Result
  ) async throws -> Result {
    let target = PeerTarget(
      domain: domain,
      description: Self.describe(domain),
      addresses: try await directory.registryAddresses(of: domain)
    )
    return try await caller.call(
      verb,
      target: target,
      caller: context.caller,
      deadline: watch ? nil : context.deadline,
      defaultTimeout: watch ? nil : defaultTimeout,
      metadata: Self.forwarding(context, to: domain, snapshotMarker: watch).metadata,
      security: context.authorization,
      logger: context.logger,
      body
    )
  }

  static func describe(_ domain: String) -> String { "registry of domain '\(domain)'" }
}
