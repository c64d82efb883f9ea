/// The DNS names a domain publishes its registry and proxy gateway under, in lookup order:
/// the RFC 2782 record first, then upstream NSM's fixed name.
public struct DiscoveryNames: Sendable, Equatable {
  public enum Service: String, Sendable {
    case registry
    case proxy
  }

  /// `_nsm-registry._tcp.D.` / `_nsm-proxy._tcp.D.`
  public let srv: String
  /// `registry.nsm-system.D.` / `nsmgr-proxy.nsm-system.D.`
  public let upstream: String

  public init(service: Service, domain: String) {
    let absolute = domain.hasSuffix(".") ? domain : domain + "."
    switch service {
    case .registry:
      srv = "_nsm-registry._tcp.\(absolute)"
      upstream = "registry.nsm-system.\(absolute)"
    case .proxy:
      srv = "_nsm-proxy._tcp.\(absolute)"
      upstream = "nsmgr-proxy.nsm-system.\(absolute)"
    }
  }
}
