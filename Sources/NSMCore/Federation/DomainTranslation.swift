public import NSMAPI

/// How names change when a registry call crosses into another domain's registry (reference §2.2):
/// going out, `@D` is stripped from the NSE name, every service name and every label key;
/// coming back, `@D` is appended to each of them, unconditionally, as upstream does.
///
/// Which domain a record is for: the one named after `@` in its name or, for an endpoint, in any
/// of its service names. Names of the registry's own domain are local (their suffix is stripped
/// going in and restored coming out); an endpoint whose names point at two different foreign
/// domains is refused (upstream silently takes the first).
public enum DomainTranslation {
  /// Where a record's call goes.
  public enum Route: Equatable, Sendable {
    /// Served by this registry; `ownSuffix` is true when names carried this registry's domain.
    case local(ownSuffix: Bool)
    /// Forwarded to the registry of this domain.
    case foreign(String)
  }

  // MARK: Network Services

  public static func route(_ ns: Registry_NetworkService, ownDomain: String) -> Route {
    route(of: [ns.name], ownDomain: ownDomain).route
  }

  /// `ns` without `@domain` in its name (going out to that domain, or in from this one).
  public static func stripped(_ ns: Registry_NetworkService, domain: String) -> Registry_NetworkService {
    var ns = ns
    ns.name = strip(ns.name, domain: domain)
    return ns
  }

  /// `ns` with `@domain` appended to its name (coming back from that domain).
  public static func joined(_ ns: Registry_NetworkService, domain: String) -> Registry_NetworkService {
    var ns = ns
    ns.name = join(ns.name, domain: domain)
    return ns
  }

  // MARK: Network Service Endpoints

  /// Throws INVALID_ARGUMENT when the endpoint's names point at two different foreign domains.
  public static func route(_ nse: Registry_NetworkServiceEndpoint, ownDomain: String) throws(NSMError) -> Route {
    let names = [nse.name] + nse.networkServiceNames
    let (route, conflict) = route(of: names, ownDomain: ownDomain)
    if let conflict {
      throw .invalidArgument(
        "network service endpoint '\(nse.name)' names two foreign domains, '\(conflict.0)' and '\(conflict.1)'; an endpoint registers in one domain"
      )
    }
    return route
  }

  public static func stripped(_ nse: Registry_NetworkServiceEndpoint, domain: String) -> Registry_NetworkServiceEndpoint
  {
    var nse = nse
    nse.name = strip(nse.name, domain: domain)
    nse.networkServiceNames = nse.networkServiceNames.map { strip($0, domain: domain) }
    nse.networkServiceLabels = relabel(nse.networkServiceLabels) { strip($0, domain: domain) }
    return nse
  }

  public static func joined(_ nse: Registry_NetworkServiceEndpoint, domain: String) -> Registry_NetworkServiceEndpoint {
    var nse = nse
    nse.name = join(nse.name, domain: domain)
    nse.networkServiceNames = nse.networkServiceNames.map { join($0, domain: domain) }
    nse.networkServiceLabels = relabel(nse.networkServiceLabels) { join($0, domain: domain) }
    return nse
  }

  // MARK: Names

  /// `name` without `@domain` when it carries exactly that domain; unchanged otherwise.
  public static func strip(_ name: String, domain: String) -> String {
    let scoped = ScopedName(name)
    return scoped.isIn(domain) ? scoped.target : name
  }

  /// `name@domain` (upstream's unconditional Join), unless `name` already carries `domain`.
  public static func join(_ name: String, domain: String) -> String {
    ScopedName(name).isIn(domain) ? name : "\(name)@\(domain)"
  }

  private static func relabel(
    _ labels: [String: Registry_NetworkServiceLabels],
    _ rename: (String) -> String
  ) -> [String: Registry_NetworkServiceLabels] {
    Dictionary(labels.map { (rename($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
  }

  private static func route(of names: [String], ownDomain: String) -> (route: Route, conflict: (String, String)?) {
    var foreign: String?
    var ownSuffix = false
    for name in names {
      guard let domain = ScopedName(name).domain else { continue }
      if ScopedName.sameDomain(domain, ownDomain) {
        ownSuffix = true
      } else if let first = foreign, !ScopedName.sameDomain(first, domain) {
        return (.foreign(first), (first, domain))
      } else {
        foreign = foreign ?? domain
      }
    }
    if let foreign { return (.foreign(foreign), nil) }
    return (.local(ownSuffix: ownSuffix), nil)
  }
}
