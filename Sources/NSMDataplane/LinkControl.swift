internal import NSMCore

/// The few things the data plane asks of Linux, behind one protocol: the control plane is
/// tested with a fake, and iproute2 (``IPRoute2``) or rtnetlink can stand behind it.
///
/// Every operation names the namespace it acts in; implementations must never depend on the
/// namespace of the calling thread (Swift concurrency moves tasks between threads).
public protocol LinkControl: Sendable {
  /// A veth pair, made from this process's namespace with each end directly in its namespace
  /// under its final name, both down.
  func addVethPair(_ name: String, in namespace: NetworkNamespace, peer: String, in peerNamespace: NetworkNamespace)
    async throws
  /// A VXLAN link made from this process's namespace, so that its UDP socket lives here (on the
  /// tunnel address), and put directly into `target` under `name`: network identifier `vni`,
  /// from `local` to `remote`, both on UDP port `port`.
  func addVXLAN(_ name: String, in target: NetworkNamespace, vni: UInt32, local: String, remote: String, port: Int)
    async throws
  /// The MTU of the link `namespace` routes `address` through.
  func pathMTU(toward address: String, in namespace: NetworkNamespace) async throws -> Int
  /// Sets the link's alias (how a restarted manager recognises what it created), MTU, addresses,
  /// brings it up, then adds routes through it.
  func configure(_ link: String, in namespace: NetworkNamespace, _ settings: LinkSettings) async throws
  /// Deletes the link; succeeds when it does not exist (any more).
  func delete(_ link: String, in namespace: NetworkNamespace) async throws
  /// A bridge in `namespace`, up; succeeds when it exists already.
  func addBridge(_ name: String, in namespace: NetworkNamespace) async throws
  /// Makes `link` a port of `bridge` and brings it up.
  func attach(_ link: String, to bridge: String, in namespace: NetworkNamespace) async throws
  /// The links of `namespace` whose alias starts with `prefix`: name and alias.
  func links(in namespace: NetworkNamespace, aliasPrefix prefix: String) async throws -> [(name: String, alias: String)]
}

/// How one end of a vWire is set up.
public struct LinkSettings: Sendable, Equatable {
  public var alias: String
  /// CIDR strings (`10.0.0.2/32`).
  public var addresses: [String]
  /// Destinations routed out of this link.
  public var routes: [RouteSpec]
  public var mtu: Int?

  public init(alias: String, addresses: [String], routes: [RouteSpec], mtu: Int? = nil) {
    self.alias = alias
    self.addresses = addresses
    self.routes = routes
    self.mtu = mtu
  }
}

/// A route out of a link: a destination prefix, on-link or through a gateway on that link.
public struct RouteSpec: Sendable, Equatable, CustomStringConvertible {
  public var prefix: String
  public var via: String?

  public init(_ prefix: String, via: String? = nil) {
    self.prefix = prefix
    self.via = via
  }

  public var description: String { via.map { "\(prefix) via \($0)" } ?? prefix }
}
