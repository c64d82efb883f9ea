internal import ArgumentParser
internal import Foundation
internal import Logging
internal import NSMConnect
internal import NSMCore
internal import NSMDNS
internal import NSMDataplane
internal import NSMSecurity
internal import NSMTransport

/// `nsm proxy`: a domain's gateway (upstream's cmd-nsmgr-proxy).
struct ProxyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "proxy",
    abstract: "Run a domain's gateway: connections between this domain and others pass through it.",
    discussion: """
      Managers of this domain send it connections to endpoints of other domains (nse@domain; \
      nsm manager --proxy-url); it passes them to the other domain's gateway, found as DNS \
      publishes it (_nsm-proxy._tcp.DOMAIN), and takes connections from other domains' gateways \
      to the manager this domain's registry names for the endpoint. Publish --public-url as \
      this domain's _nsm-proxy._tcp record.
      """
  )

  @Option(help: "Its name in connection paths (env NSM_NAME; default nsmgr-proxy).") var name: String?
  @Option(help: "The domain it serves (env NSM_DOMAIN; default cluster.local).") var domain: String?
  @Option(
    help: "Where it serves; repeatable (env NSM_LISTEN_ON, comma-separated; default tcp://0.0.0.0:5004)."
  )
  var listen: [String] = []
  @Option(help: "This domain's registry (env NSM_REGISTRY_URL; default tcp://127.0.0.1:5002).") var registry: String?
  @Option(help: "Where other domains reach it, as published in DNS (env NSM_PUBLIC_URL).") var publicURL: String?
  @Option(
    help:
      "The relay's address for this domain's managers, IP[:PORT] (env NSM_INSIDE_TUNNEL; port 4789, the managers' VXLAN port). With --outside-tunnel, vWires are spliced here."
  )
  var insideTunnel: String?
  @Option(help: "The relay's address for other domains' gateways, IP[:PORT] (env NSM_OUTSIDE_TUNNEL; port 4789).")
  var outsideTunnel: String?
  @Option(
    help:
      "userspace: relay in this process (no privileges); kernel: the kernel forwards each vWire, nftables rewriting its outer addresses (CAP_NET_ADMIN; turns on forwarding; one per network namespace; both sides of one address family) (env NSM_RELAY; default userspace)."
  )
  var relay: String?
  @Option(
    help:
      "A YAML map of 'internal: external' addresses (upstream's format): what other domains are told for this domain's tunnel addresses behind NAT; read again when it changes (env NSM_MAP_IP_FILE_PATH)."
  )
  var mapIPFile: String?
  @Option(
    help:
      "A domain policy file (YAML) whose gateway section says what may cross; re-read when it changes (env NSM_POLICY_FILE; default: only the own trust domain)."
  )
  var policy: String?
  @OptionGroup var dns: DNSOptions
  @OptionGroup(title: "Identity") var tls: TLSOptions
  @Option(help: "trace, debug, info, warn, error (env NSM_LOG_LEVEL; default info).") var logLevel: String?

  func makeConfiguration() throws -> ProxyConfiguration {
    let name = setting(name, env: "NSM_NAME") ?? "nsmgr-proxy"
    try parseSetting(name, flag: "name", env: "NSM_NAME") { try NameRules.validate($0, field: "name") }
    let domain = try parseSetting(
      setting(domain, env: "NSM_DOMAIN") ?? "cluster.local",
      flag: "domain",
      env: "NSM_DOMAIN"
    ) {
      try DomainName.validate($0)
      return $0
    }
    let listenTexts = settingList(listen, env: "NSM_LISTEN_ON")
    let addresses = try (listenTexts.isEmpty ? ["tcp://0.0.0.0:5004"] : listenTexts).map { text in
      let address = try ConnectSettings.address(text, flag: "listen", env: "NSM_LISTEN_ON")
      _ = try parseSetting(text, flag: "listen", env: "NSM_LISTEN_ON") { _ in try address.bindAddress() }
      return address
    }
    let registryAddress = try ConnectSettings.address(
      setting(registry, env: "NSM_REGISTRY_URL") ?? "tcp://127.0.0.1:5002",
      flag: "registry",
      env: "NSM_REGISTRY_URL"
    )
    let resolver = DomainResolver(configuration: try dns.resolverConfiguration())
    var configuration = ProxyConfiguration(
      domains: [domain],
      listen: addresses,
      registry: registryAddress,
      directory: resolver
    )
    configuration.name = name
    if let text = setting(publicURL, env: "NSM_PUBLIC_URL") {
      configuration.publicURL = try ConnectSettings.publicURL(text)
    }
    let inside = setting(insideTunnel, env: "NSM_INSIDE_TUNNEL")
    let outside = setting(outsideTunnel, env: "NSM_OUTSIDE_TUNNEL")
    switch (inside, outside) {
    case (nil, nil):
      if setting(relay, env: "NSM_RELAY") != nil {
        throw ValidationError("--relay / NSM_RELAY needs --inside-tunnel and --outside-tunnel")
      }
    case (let inside?, let outside?):
      let sides = (
        inside: try Self.tunnel(inside, flag: "inside-tunnel", env: "NSM_INSIDE_TUNNEL"),
        outside: try Self.tunnel(outside, flag: "outside-tunnel", env: "NSM_OUTSIDE_TUNNEL")
      )
      if sides.inside.address == sides.outside.address && sides.inside.port == sides.outside.port {
        throw ValidationError("--inside-tunnel and --outside-tunnel must differ (address or port)")
      }
      configuration.relay = sides
      switch setting(relay, env: "NSM_RELAY") ?? "userspace" {
      case "userspace": break
      case "kernel":
        do {
          configuration.kernelRelay = try KernelRelay(owner: name, inside: sides.inside, outside: sides.outside)
        } catch {
          throw ValidationError("--relay kernel: \(error.message)")
        }
      case let other: throw ValidationError("--relay / NSM_RELAY: '\(other)' is neither userspace nor kernel")
      }
    default:
      throw ValidationError(
        "--inside-tunnel and --outside-tunnel go together (env NSM_INSIDE_TUNNEL, NSM_OUTSIDE_TUNNEL)"
      )
    }
    if let path = setting(mapIPFile, env: "NSM_MAP_IP_FILE_PATH") {
      configuration.addressMap = try parseSetting(path, flag: "map-ip-file", env: "NSM_MAP_IP_FILE_PATH") {
        try AddressMap(path: $0, logger: Logger(label: "nsm.proxy"))
      }
    }
    return configuration
  }

  /// `IP` or `IP:PORT` (`[v6]:PORT`), port 4789 unless given.
  static func tunnel(_ text: String, flag: String, env: String) throws -> GatewayRelayElement.Side {
    try parseSetting(text, flag: flag, env: env) { text throws(NSMError) in
      if IPPrefix.parseAddress(text) != nil { return GatewayRelayElement.Side(address: text, port: 4789) }
      guard let split = DomainName.splitHostPort(text), IPPrefix.parseAddress(split.host) != nil,
        let port = UInt16(split.port), port > 0
      else {
        throw .invalidArgument("'\(text)' is not IP[:PORT]")
      }
      return GatewayRelayElement.Side(address: split.host, port: Int(port))
    }
  }

  func run() async throws {
    // Logging first: the address map keeps the logger it is made with.
    _ = try bootstrapLogging(logLevel)
    var configuration = try makeConfiguration()
    let logger = Logger(label: "nsm.proxy")
    configuration.identity = try tls.identity(logger: logger)
    configuration.maxTokenLifetime = try tls.tokenLifetime()
    if let path = setting(policy, env: "NSM_POLICY_FILE") {
      guard configuration.identity != nil else {
        throw ValidationError("--policy / NSM_POLICY_FILE needs an identity (--tls-dir); --insecure checks no policy")
      }
      configuration.policy = try parseSetting(path, flag: "policy", env: "NSM_POLICY_FILE") {
        try PolicySource(file: $0)
      }
    }
    if configuration.identity == nil {
      logger.warning("--insecure: plaintext gRPC, no identities, no path tokens; for local development only")
    }
    for address in configuration.listen { try ConnectSettings.prepare(address) }
    let proxy = try ProxyServer(configuration: configuration, logger: logger)
    try await runServices(proxy.services, logger: logger)
  }
}
