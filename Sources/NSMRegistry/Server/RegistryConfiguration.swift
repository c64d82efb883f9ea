public import NSMCore
public import NSMTransport

/// How `nsm registry` runs; the README lists the flags and environment variables that set it.
public struct RegistryConfiguration: Sendable {
  /// Where the gRPC server listens (`NSM_LISTEN_ON`).
  public var listen: ServiceAddress = .tcp(host: "127.0.0.1", port: 5002)
  /// The domain this registry serves (`NSM_DOMAIN`).
  public var domain = "cluster.local"
  /// The longest lease an endpoint registration gets (`NSM_EXPIRE_PERIOD`).
  public var expirePeriod: Duration = .seconds(60)
  /// Events a watcher may fall behind before its stream ends with RESOURCE_EXHAUSTED
  /// (`NSM_WATCH_BUFFER`).
  public var watchBufferSize = 1024
  /// How often expired endpoints are looked for. Expiry is exact to within this interval.
  public var reapInterval: Duration = .milliseconds(100)
  /// What the server allows its clients (`--max-streams`, `--max-connections`, ...).
  public var limits = ServerLimits()
  /// What the connections to other domains' registries may hold.
  public var peerLimits = PeerPool.Limits()
  /// Peers whose forwarded calls are counted; beyond it the least recently used are forgotten.
  public var peerStatisticsCapacity = 1024
  /// mTLS, path tokens and policies; plaintext when it has no identity.
  public var security = SecurityConfiguration()
  /// Forwarding to other domains and hosting floating ones.
  public var federation = FederationConfiguration()
  /// The clock of leases, expiry, idle connections and back-off; tests move it by hand.
  public var time: any TimeSource = SystemTime()

  /// The largest request message the server reads; larger ones end with RESOURCE_EXHAUSTED
  /// before reaching the registry. Records above ``Limits/maxRecordBytes`` but under this get
  /// a precise INVALID_ARGUMENT.
  public var maxRequestBytes: Int {
    get { limits.maxRequestBytes }
    set { limits.maxRequestBytes = newValue }
  }

  /// The domains this registry answers for.
  public var served: ServedDomains { ServedDomains(primary: domain, floating: federation.floatingDomains) }

  public init() {}
}
