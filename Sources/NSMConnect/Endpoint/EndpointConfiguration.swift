internal import Foundation
public import NSMCore
public import NSMDataplane
public import NSMTransport

/// What `nsm endpoint` runs with (upstream's cmd-nse-icmp-responder; environment names in
/// brackets): `--name` (NSM_NAME), `--service` (NSM_SERVICE_NAMES), `--labels` (NSM_LABELS),
/// `--cidr` (NSM_CIDR_PREFIX), `--connect-to` (NSM_CONNECT_TO), `--listen` (NSM_LISTEN_ON),
/// `--expire-period` (NSM_REGISTER_SERVICE_PERIOD's lease), composition and supplier flags.
public struct EndpointConfiguration: Sendable {
  public struct Passthrough: Sendable {
    /// nil: the service this endpoint was requested for.
    public var service: String?
    public var labels: [String: String]

    public init(service: String?, labels: [String: String]) {
      self.service = service
      self.labels = labels
    }
  }

  public var name = "nse"
  public var services: [String] = []
  /// Destination labels, the same for each service.
  public var labels: [String: String] = [:]
  public var cidr: IPPrefix
  public var connectTo: ServiceAddress = .tcp(host: "127.0.0.1", port: 5001)
  public var listen: ServiceAddress
  /// The lease of its registration; renewed at a third of it.
  public var expirePeriod: Duration = .seconds(60)
  public var identity: WorkloadIdentity?
  public var maxTokenLifetime: Duration = .seconds(600)
  public var passthrough: Passthrough?
  /// Scale from zero: the command template a supplier runs for a request.
  public var supplierCommand: String?
  /// A simple vL3: clients are routed the whole prefix through their vWires and the endpoint
  /// forwards between them.
  public var vl3 = false
  /// The data plane of a middle box (`--dataplane kernel`): joins each connection's incoming
  /// and outgoing vWires in this namespace. nil: it negotiates only.
  public var links: (any LinkControl)?
  /// Exit after this long without connections (a spawned endpoint); nil: never.
  public var idleTimeout: Duration?
  /// Where the endpoint's network namespace is, for the KERNEL mechanism.
  public var inodeURL = "file:///proc/\(ProcessInfo.processInfo.processIdentifier)/ns/net"
  public var limits = ServerLimits()
  public var time: any TimeSource = SystemTime()

  public init(name: String, services: [String], cidr: IPPrefix, listen: ServiceAddress) {
    self.name = name
    self.services = services
    self.cidr = cidr
    self.listen = listen
  }
}
