public import NSMCore
public import NSMDataplane
public import NSMTransport

/// What `nsm manager` runs with; every field has a flag (upstream's environment names in
/// brackets): `--name` (NSM_NAME), `--listen` (NSM_LISTEN_ON), `--url`, `--registry`
/// (NSM_REGISTRY_URL), `--node-name` (NODE_NAME), `--cluster-name` (CLUSTER_NAME),
/// `--tunnel-ip` (NSM_TUNNEL_IP), `--max-token-lifetime` (NSM_MAX_TOKEN_LIFETIME).
public struct ManagerConfiguration: Sendable {
  public var name = "nsmgr"
  /// Where it serves: usually a unix socket for this node's workloads and tcp for other managers.
  public var listen: [ServiceAddress] = [.tcp(host: "127.0.0.1", port: 5001)]
  /// The URL other managers reach this one at, stored with every endpoint registered through it.
  public var url: String = "tcp://127.0.0.1:5001"
  public var registry: ServiceAddress = .tcp(host: "127.0.0.1", port: 5002)
  public var nodeName: String?
  public var clusterName: String?
  /// This domain's gateway (`nsm proxy`): connections to endpoints of other domains go there.
  public var proxyURL: ServiceAddress?
  /// Without `proxyURL`: this domain's name and where its published gateway is looked up
  /// (`_nsm-proxy._tcp.DOMAIN`).
  public var domain: String?
  public var directory: (any DomainDirectory)?
  /// This node's VXLAN tunnel address; nil: only endpoints on this node can be reached.
  public var tunnelIP: String?
  /// How vWires are made (`--dataplane kernel`); nil: control plane only (`none`).
  public var links: (any LinkControl)?
  /// Keeps foreign packets out of its VXLAN vWires (with `--dataplane kernel`: nftables).
  public var tunnelGuard: (any TunnelGuard)?
  public var identity: WorkloadIdentity?
  public var maxTokenLifetime: Duration = .seconds(600)
  public var limits = ServerLimits()
  public var peerLimits = PeerPool.Limits()
  public var time: any TimeSource = SystemTime()

  public init() {}

  /// The labels this node adds to requests and registrations (`clientinfo`).
  public var nodeLabels: [String: String] {
    var labels: [String: String] = [:]
    if let nodeName { labels["nodeName"] = nodeName }
    if let clusterName { labels["clusterName"] = clusterName }
    return labels
  }
}
