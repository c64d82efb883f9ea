public import NSMCore

/// How a registry takes part in federation (README, docs/federation.md).
public struct FederationConfiguration: Sendable {
  /// Floating domains this registry hosts besides its own (`--floating-domain`).
  public var floatingDomains: [String] = []
  /// The URL other domains reach this domain's endpoints through (`--public-url`); when nil,
  /// the domain's published gateway record, looked up in ``directory``.
  public var publicURL: String?
  /// Labels added to every service of an endpoint registered into another domain
  /// (`--cluster-label`), as upstream's clusterinfo file does.
  public var clusterLabels: [String: String] = [:]
  /// Finds other domains' registries; nil refuses every `name@other-domain` call with
  /// FAILED_PRECONDITION.
  public var directory: (any DomainDirectory)?
  /// The deadline of a forwarded call whose caller set none (watches excepted).
  public var forwardTimeout: Duration = .seconds(15)

  public init() {}
}
