internal import ArgumentParser
internal import Foundation
internal import Logging
internal import NSMConnect
internal import NSMCore
internal import NSMDNS
internal import NSMDataplane
internal import NSMTransport

/// `nsm manager`: one node's Network Service Manager.
struct ManagerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "manager",
    abstract:
      "Run a node's Network Service Manager (Request, Close, MonitorConnections; the registry for its workloads)."
  )

  @Option(help: "Its name in connection paths (env NSM_NAME; default nsmgr).") var name: String?

  @Option(
    help:
      "Where to serve; repeatable: a unix socket for this node's workloads, tcp for other managers (env NSM_LISTEN_ON, comma-separated; default \(ConnectSettings.defaultManagerSocket),tcp://127.0.0.1:5001)."
  )
  var listen: [String] = []

  @Option(
    help:
      "The URL other managers reach this one at, stored with the endpoints registered through it (env NSM_URL; default the first tcp --listen address)."
  )
  var url: String?

  @Option(help: "The domain registry (env NSM_REGISTRY_URL; default tcp://127.0.0.1:5002).") var registry: String?
  @Option(help: "This node's name, added to requests and registrations as nodeName (env NODE_NAME).") var nodeName:
    String?
  @Option(help: "This cluster's name, added as clusterName (env CLUSTER_NAME).") var clusterName: String?
  @Option(
    help:
      "This domain's gateway (nsm proxy): connections to endpoints of other domains (nse@domain) go there (env NSM_PROXY_URL; default: the gateway --domain publishes, else straight to the one the registry names for the endpoint)."
  )
  var proxyURL: String?
  @Option(
    help:
      "This manager's domain, whose published gateway (_nsm-proxy._tcp.DOMAIN) is the default --proxy-url (env NSM_DOMAIN)."
  )
  var domain: String?
  @OptionGroup var dns: DNSOptions
  @Option(
    help:
      "This node's VXLAN tunnel address, offered to other nodes (env NSM_TUNNEL_IP; default the host of --url when it is an IP address)."
  )
  var tunnelIP: String?
  @Option(
    help:
      "kernel: vWires carry packets (veth pairs on this node, VXLAN to others; needs root); none: control plane only (env NSM_DATAPLANE; default kernel as root, else none)."
  )
  var dataplane: String?

  @OptionGroup(title: "Identity") var tls: TLSOptions
  @OptionGroup(title: "Limits") var limits: ServerLimitOptions
  @Option(help: "trace, debug, info, warn, error (env NSM_LOG_LEVEL; default info).") var logLevel: String?

  func makeConfiguration() throws -> ManagerConfiguration {
    var configuration = ManagerConfiguration()
    configuration.name = setting(name, env: "NSM_NAME") ?? "nsmgr"
    try parseSetting(configuration.name, flag: "name", env: "NSM_NAME") { try NameRules.validate($0, field: "name") }
    var listenTexts = settingList(listen, env: "NSM_LISTEN_ON")
    if listenTexts.isEmpty { listenTexts = [ConnectSettings.defaultManagerSocket, "tcp://127.0.0.1:5001"] }
    configuration.listen = try listenTexts.map { text in
      let address = try ConnectSettings.address(text, flag: "listen", env: "NSM_LISTEN_ON")
      _ = try parseSetting(text, flag: "listen", env: "NSM_LISTEN_ON") { _ in try address.bindAddress() }
      return address
    }
    if let text = setting(url, env: "NSM_URL") {
      let address = try ConnectSettings.address(text, flag: "url", env: "NSM_URL")
      configuration.url = address.description
    } else if let tcp = configuration.listen.first(where: { if case .tcp = $0 { true } else { false } }) {
      guard case .tcp(let host, let port) = tcp, !["", "0.0.0.0", "::"].contains(host) else {
        throw ValidationError("--url / NSM_URL: the tcp --listen address has no host others can reach; give --url")
      }
      configuration.url = ServiceAddress.tcp(host: host, port: port).description
    } else {
      configuration.url = configuration.listen[0].description
    }
    if let text = setting(registry, env: "NSM_REGISTRY_URL") {
      configuration.registry = try ConnectSettings.address(text, flag: "registry", env: "NSM_REGISTRY_URL")
    }
    configuration.nodeName = setting(nodeName, env: "NODE_NAME")
    configuration.clusterName = setting(clusterName, env: "CLUSTER_NAME")
    try parseSetting("", flag: "node-name", env: "NODE_NAME") { _ in
      try LabelRules.validate(configuration.nodeLabels, field: "node labels")
    }
    if let text = setting(proxyURL, env: "NSM_PROXY_URL") {
      configuration.proxyURL = try ConnectSettings.address(text, flag: "proxy-url", env: "NSM_PROXY_URL")
    } else if let text = setting(domain, env: "NSM_DOMAIN") {
      configuration.domain = try parseSetting(text, flag: "domain", env: "NSM_DOMAIN") {
        try DomainName.validate($0)
        return $0
      }
      configuration.directory = DomainResolver(configuration: try dns.resolverConfiguration())
    }
    if let text = setting(tunnelIP, env: "NSM_TUNNEL_IP") {
      guard IPPrefix.parseAddress(text) != nil else {
        throw ValidationError("--tunnel-ip / NSM_TUNNEL_IP: '\(text)' is not an IP address")
      }
      configuration.tunnelIP = text
    } else if let address = try? ServiceAddress(parsing: configuration.url), case .tcp(let host, _) = address,
      IPPrefix.parseAddress(host) != nil
    {
      configuration.tunnelIP = host
    }
    configuration.links = try ConnectSettings.dataplane(setting(dataplane, env: "NSM_DATAPLANE"))
    if configuration.links != nil {
      configuration.tunnelGuard = NFTables(owner: configuration.name)
      ProcessLimits.raiseOpenFiles()
    }
    try limits.apply(to: &configuration.limits)
    return configuration
  }

  func run() async throws {
    var configuration = try makeConfiguration()
    _ = try bootstrapLogging(logLevel)
    let logger = Logger(label: "nsm.manager")
    configuration.identity = try tls.identity(logger: logger)
    configuration.maxTokenLifetime = try tls.tokenLifetime()
    if configuration.identity == nil {
      logger.warning("--insecure: plaintext gRPC, no identities, no path tokens; for local development only")
    }
    for address in configuration.listen { try ConnectSettings.prepare(address) }
    let manager = try NetworkServiceManager(configuration: configuration, logger: logger)
    try await runServices(manager.services, logger: logger)
  }
}
