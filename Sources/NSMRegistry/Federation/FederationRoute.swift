internal import NSMCore

/// Where a call goes (DESIGN.md §4): decided once by the same rule for the authorization and
/// federation elements.
enum FederationRoute {
  static func resolve<Record: FederatedRecord>(
    _ record: Record,
    served: ServedDomains,
    forwarding: ForwardingInfo
  ) throws(NSMError) -> DomainTranslation.Route {
    let route = try DomainTranslation.route(record, served: served, implied: forwarding.domain)
    if case .foreign(let domain) = route, forwarding.hops > 0 {
      // A forwarded call is served where it lands or refused: never forwarded again, so DNS
      // that leads back (to this registry or another that does not serve the domain) cannot
      // make calls circle.
      throw NSMError(
        .failedPrecondition,
        "forwarding loop refused: the registry of '\(served.primary)' received a call forwarded for domain '\(domain)' (hop \(forwarding.hops)), which it does not serve; the DNS records of '\(domain)' lead to the wrong registry"
      )
    }
    return route
  }
}
