/// The domains one registry answers for: its own (`--domain`) and any floating domains it hosts
/// (`--floating-domain`), which have no runtime of their own.
public struct ServedDomains: Sendable, Equatable {
  /// The registry's own domain: plain names belong to it.
  public var primary: String
  /// Floating domains hosted here; their records are kept apart from the primary's.
  public var floating: [String]

  public init(primary: String, floating: [String] = []) {
    self.primary = primary
    self.floating = floating
  }

  /// The configured spelling of `domain` when this registry serves it; nil otherwise.
  public func served(_ domain: String) -> String? {
    ([primary] + floating).first { ScopedName.sameDomain($0, domain) }
  }

  public func isPrimary(_ domain: String) -> Bool { ScopedName.sameDomain(primary, domain) }

  /// Checks the configuration: every domain a valid DNS name, none twice.
  public func validate() throws(NSMError) {
    var seen: [String] = []
    for domain in [primary] + floating {
      try DomainName.validate(domain)
      if seen.contains(where: { ScopedName.sameDomain($0, domain) }) {
        throw .invalidArgument("domain '\(domain)' is listed twice")
      }
      seen.append(domain)
    }
  }
}
