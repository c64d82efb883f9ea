internal import Foundation
public import NSMCore
public import NSMTransport

/// What `nsm client` runs with (upstream's cmd-nsc; environment names in brackets):
/// `--connect-to` (NSM_CONNECT_TO), `--network-service` (NSM_NETWORK_SERVICES), `--labels`
/// (NSM_LABELS), `--request-timeout` (NSM_REQUEST_TIMEOUT), `--name` (NSM_NAME).
public struct ClientConfiguration: Sendable {
  public var name: String
  public var connectTo: ServiceAddress
  public var services: [NetworkServiceURL]
  /// Source labels of every request; a service URL's own labels win.
  public var labels: [String: String] = [:]
  /// How long a first Request may keep being retried.
  public var requestTimeout: Duration = .seconds(15)
  /// How often a failed Request is retried (upstream's 200 ms).
  public var retryInterval: Duration = .milliseconds(200)
  public var identity: WorkloadIdentity?
  public var maxTokenLifetime: Duration = .seconds(600)
  public var inodeURL = "file:///proc/\(ProcessInfo.processInfo.processIdentifier)/ns/net"
  public var time: any TimeSource = SystemTime()

  public init(name: String, connectTo: ServiceAddress, services: [NetworkServiceURL]) {
    self.name = name
    self.connectTo = connectTo
    self.services = services
  }
}
