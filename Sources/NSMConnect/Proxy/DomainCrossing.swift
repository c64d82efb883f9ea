/// Which way a connection crosses a gateway, decided by ``GatewayRouteElement`` from the
/// endpoint's name and this domain's registrations: the relay, the address map and the policy
/// read it, since the names they would read it from are already translated.
public enum DomainCrossing: Sendable, Equatable {
  /// Into this domain: the next hop is one of its managers (a floating domain's endpoint
  /// registered from here comes in this way too).
  case inward
  /// Out of it: the next hop is another domain's gateway.
  case outward
}
