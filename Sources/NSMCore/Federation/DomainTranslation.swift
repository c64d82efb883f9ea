/// How names change when a registry call crosses into another domain's registry (reference §2.2):
/// going out, `@D` is stripped from the NSE name, every service name and every label key;
/// coming back, `@D` is appended to each of them, unconditionally, as upstream does.
///
/// Which domain a record is for: the one named after `@` in its name or, for an endpoint, in any
/// of its service names; plain names belong to the domain the call is for (the registry's own,
/// or the one a forwarding registry named). Records of a served domain are handled here, with
/// the suffix stripped going in and restored coming out when the caller wrote it; records of
/// other domains go to that domain's registry. A record naming two different domains is refused
/// (upstream silently takes the first).
public enum DomainTranslation {
  /// Where a record's call goes.
  public enum Route: Equatable, Sendable {
    /// Served by this registry for `domain` (one of its served domains, as configured);
    /// `suffixed` is true when the caller's names carried `@domain`.
    case local(domain: String, suffixed: Bool)
    /// Forwarded to the registry of this domain.
    case foreign(String)
  }

  /// Throws INVALID_ARGUMENT when the record's names point at two different domains, or at a
  /// domain that is not a valid domain name.
  public static func route<Record: DomainScoped>(
    _ record: Record,
    served: ServedDomains,
    implied: String? = nil
  ) throws(NSMError) -> Route {
    try route(of: record.scopedNames, kind: Record.kind, served: served, implied: implied)
  }

  /// `record` without `@domain` on its names (going out to that domain, or in from this one).
  public static func stripped<Record: DomainScoped>(_ record: Record, domain: String) -> Record {
    record.renamed { strip($0, domain: domain) }
  }

  /// `record` with `@domain` appended to its names (coming back from that domain).
  public static func joined<Record: DomainScoped>(_ record: Record, domain: String) -> Record {
    record.renamed { join($0, domain: domain) }
  }

  // MARK: Names

  /// `name` without `@domain` when it carries exactly that domain; unchanged otherwise.
  public static func strip(_ name: String, domain: String) -> String {
    let scoped = ScopedName(name)
    return scoped.isIn(domain) ? scoped.target : name
  }

  /// `name@domain` (upstream's unconditional Join), unless `name` already carries `domain`.
  /// An empty name stays empty: in a Find template it is the wildcard.
  public static func join(_ name: String, domain: String) -> String {
    name.isEmpty || ScopedName(name).isIn(domain) ? name : "\(name)@\(domain)"
  }

  private static func route(
    of names: [String],
    kind: String,
    served: ServedDomains,
    implied: String?
  ) throws(NSMError) -> Route {
    var named: String?
    for name in names {
      guard let domain = ScopedName(name).domain else { continue }
      if let first = named, !ScopedName.sameDomain(first, domain) {
        throw .invalidArgument(
          "\(kind) '\(names[0])' names two domains, '\(first)' and '\(domain)'; a record belongs to one domain"
        )
      }
      named = named ?? domain
    }
    if let named {
      try DomainName.validate(named)
      if let domain = served.served(named) { return .local(domain: domain, suffixed: true) }
      return .foreign(named)
    }
    let implied = implied ?? served.primary
    if let domain = served.served(implied) { return .local(domain: domain, suffixed: false) }
    return .foreign(implied)
  }
}
