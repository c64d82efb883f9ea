public import NSMCore
public import NSMDataplane
public import NSMSecurity
public import NSMTransport

/// What `nsm proxy` runs with (upstream's cmd-nsmgr-proxy; environment names in brackets):
/// `--name` (NSM_NAME), `--domain`, `--listen` (NSM_LISTEN_ON), `--registry`
/// (NSM_REGISTRY_URL: its own domain's registry), `--public-url` (what other domains dial),
/// `--dns-server` (how other domains' gateways are found).
public struct ProxyConfiguration: Sendable {
  public var name = "nsmgr-proxy"
  /// The domains this gateway serves; the first is its own name for them.
  public var domains: [String]
  public var listen: [ServiceAddress]
  public var registry: ServiceAddress
  /// Where other domains reach it; published as `_nsm-proxy._tcp.DOMAIN`.
  public var publicURL: String?
  /// Other domains' gateways (`_nsm-proxy._tcp.DOMAIN`).
  public var directory: any DomainDirectory
  /// The relay's addresses (`--inside-tunnel`, `--outside-tunnel`): where this domain's managers
  /// and other domains' gateways send the vWires' VXLAN. nil: the gateway passes the managers'
  /// tunnel parameters through and they tunnel to each other directly.
  public var relay: (inside: GatewayRelayElement.Side, outside: GatewayRelayElement.Side)?
  /// With a relay: splice in the kernel (`--relay kernel`, needs CAP_NET_ADMIN and nftables)
  /// instead of the userspace relay.
  public var kernelRelay: KernelRelay?
  /// `--map-ip-file`: the external address other domains are told for an internal one.
  public var addressMap: AddressMap?
  public var identity: WorkloadIdentity?
  /// `--policy`: the domain policy file whose `gateway:` section this gateway enforces; nil
  /// for the default (own trust domain only). Needs an identity.
  public var policy: PolicySource?
  public var maxTokenLifetime: Duration = .seconds(600)
  public var limits = ServerLimits()
  public var time: any TimeSource = SystemTime()

  public init(domains: [String], listen: [ServiceAddress], registry: ServiceAddress, directory: any DomainDirectory) {
    self.domains = domains
    self.listen = listen
    self.registry = registry
    self.directory = directory
  }
}
