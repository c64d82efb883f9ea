/// Where another domain's registry and proxy gateway are: DNS SRV in production
/// (`NSMDNS.DomainResolver`), anything else in a test.
public protocol DomainDirectory: Sendable {
  /// The addresses of `domain`'s registry, in the order to try them. NOT_FOUND when the domain
  /// publishes no registry, UNAVAILABLE when that cannot be told right now.
  func registryAddresses(of domain: String) async throws(NSMError) -> [ServiceAddress]

  /// The URL of `domain`'s proxy gateway (`tcp://host:port`); nil when the domain publishes
  /// none, as a floating domain does. UNAVAILABLE when that cannot be told right now.
  func gatewayURL(of domain: String) async throws(NSMError) -> String?
}
