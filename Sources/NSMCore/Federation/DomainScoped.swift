public import NSMAPI

/// A record whose names say which domain it belongs to (`name@domain`): what
/// ``DomainTranslation`` needs to route it and to rename it across domains.
public protocol DomainScoped {
  /// "network service" or "network service endpoint", for messages and logs.
  static var kind: String { get }
  /// Every name that carries a domain, the record's own name first.
  var scopedNames: [String] { get }
  /// The record with each of those names passed through `rename`.
  func renamed(_ rename: (String) -> String) -> Self
}

extension Registry_NetworkService: DomainScoped {
  public static var kind: String { "network service" }

  public var scopedNames: [String] { [name] }

  public func renamed(_ rename: (String) -> String) -> Self {
    var ns = self
    ns.name = rename(name)
    return ns
  }
}

extension Registry_NetworkServiceEndpoint: DomainScoped {
  public static var kind: String { "network service endpoint" }

  /// The name, every service name and every label key.
  public var scopedNames: [String] { [name] + networkServiceNames + networkServiceLabels.keys.sorted() }

  public func renamed(_ rename: (String) -> String) -> Self {
    var nse = self
    nse.name = rename(name)
    nse.networkServiceNames = networkServiceNames.map(rename)
    // Two keys may become one (`a` and `a@d` stripped of `@d`): the first kept, as upstream.
    nse.networkServiceLabels = Dictionary(
      networkServiceLabels.map { (rename($0.key), $0.value) },
      uniquingKeysWith: { first, _ in first }
    )
    return nse
  }
}
