internal import ArgumentParser
internal import Foundation
internal import Logging
internal import NSMConnect
internal import NSMCore
internal import NSMTransport

/// `nsm endpoint`: a network service endpoint that hands out addresses of its prefix; with
/// `--passthrough` a middle box of a composition, with `--supplier` a scale-from-zero supplier.
struct EndpointCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "endpoint",
    abstract: "Run a network service endpoint (registers through its manager, answers Requests).",
    discussion: """
      --passthrough SERVICE --next-labels k=v makes it a middle box: each Request it answers makes it \
      request SERVICE itself with those source labels. --supplier --spawn 'COMMAND' makes it a \
      scale-from-zero supplier: a Request starts COMMAND, rendered with the request's labels \
      ({{ .nodeName }} …), and fails with "endpoint created as …", so the client's retry finds the new endpoint.
      """
  )

  @Option(help: "Its name (env NSM_NAME; default nse-<pid>).") var name: String?
  @Option(help: "A network service it provides; repeatable (env NSM_SERVICE_NAMES, comma-separated).") var service:
    [String] = []
  @Option(help: "Its destination labels, k=v,... (env NSM_LABELS).") var labels: String?
  @Option(help: "The prefix it hands addresses out of (env NSM_CIDR_PREFIX; default 169.254.0.0/24).") var cidr: String?
  @Option(
    help: "Its manager (env NSM_CONNECT_TO; default \(ConnectSettings.defaultManagerSocket))."
  )
  var connectTo: String?
  @Option(help: "Where it serves (env NSM_LISTEN_ON; default a unix socket in the temporary folder).") var listen:
    String?
  @Option(help: "The lease of its registration, renewed at a third (env NSM_EXPIRE_PERIOD; default 1m).")
  var expirePeriod: String?
  @Option(help: "Compose: request this network service for each connection (env NSM_PASSTHROUGH).") var passthrough:
    String?
  @Option(help: "The source labels of the composed request, k=v,... (env NSM_NEXT_LABELS).") var nextLabels: String?
  @Flag(help: "Register as a scale-from-zero supplier (env NSM_SUPPLIER=true); needs --spawn.") var supplier = false
  @Option(help: "The command a supplier starts per request, with {{ .label }} placeholders (env NSM_SPAWN).") var spawn:
    String?
  @Flag(
    help:
      "A simple vL3: every client is routed the whole --cidr through its vWire, and the endpoint forwards between its clients (env NSM_VL3=true)."
  )
  var vl3 = false
  @Option(
    help:
      "kernel: a --passthrough middle box joins each connection's incoming and outgoing vWires so packets cross it (needs root or CAP_NET_ADMIN in its namespace); none: negotiate only (env NSM_DATAPLANE; default kernel as root, else none)."
  )
  var dataplane: String?
  @Option(help: "Exit after this long without connections (env NSM_IDLE_TIMEOUT; default never).") var idleTimeout:
    String?

  @OptionGroup(title: "Identity") var tls: TLSOptions
  @Option(help: "trace, debug, info, warn, error (env NSM_LOG_LEVEL; default info).") var logLevel: String?

  func makeConfiguration() throws -> EndpointConfiguration {
    let pid = ProcessInfo.processInfo.processIdentifier
    let name = setting(name, env: "NSM_NAME") ?? "nse-\(pid)"
    try parseSetting(name, flag: "name", env: "NSM_NAME") { try NameRules.validate($0, field: "name") }
    let services = settingList(service, env: "NSM_SERVICE_NAMES")
    guard !services.isEmpty else {
      throw ValidationError("--service / NSM_SERVICE_NAMES: name at least one network service")
    }
    for service in services {
      try parseSetting(service, flag: "service", env: "NSM_SERVICE_NAMES") {
        try NameRules.validate($0, field: "service")
      }
    }
    let cidrText = setting(cidr, env: "NSM_CIDR_PREFIX") ?? "169.254.0.0/24"
    let prefix = try parseSetting(cidrText, flag: "cidr", env: "NSM_CIDR_PREFIX") { text throws(NSMError) in
      let prefix = try IPPrefix(parsing: text)
      if prefix.bitWidth - prefix.length < 2 {
        throw .invalidArgument("'\(text)' holds fewer than two usable addresses")
      }
      return prefix
    }
    let listenText =
      setting(listen, env: "NSM_LISTEN_ON") ?? "unix://\(NSTemporaryDirectory())nsm-endpoint-\(name)-\(pid).sock"
    let listenAddress = try ConnectSettings.address(listenText, flag: "listen", env: "NSM_LISTEN_ON")
    var configuration = EndpointConfiguration(name: name, services: services, cidr: prefix, listen: listenAddress)
    if let text = setting(labels, env: "NSM_LABELS") {
      configuration.labels = try ConnectSettings.labels(text, flag: "labels", env: "NSM_LABELS")
    }
    configuration.connectTo = try ConnectSettings.address(
      setting(connectTo, env: "NSM_CONNECT_TO") ?? ConnectSettings.defaultManagerSocket,
      flag: "connect-to",
      env: "NSM_CONNECT_TO"
    )
    if let text = setting(expirePeriod, env: "NSM_EXPIRE_PERIOD") {
      configuration.expirePeriod = try ConnectSettings.duration(text, flag: "expire-period", env: "NSM_EXPIRE_PERIOD")
    }
    let nextLabelsText = setting(nextLabels, env: "NSM_NEXT_LABELS")
    if let service = setting(passthrough, env: "NSM_PASSTHROUGH") {
      try parseSetting(service, flag: "passthrough", env: "NSM_PASSTHROUGH") {
        try NameRules.validate($0, field: "passthrough")
      }
      configuration.passthrough = .init(
        service: service,
        labels: try nextLabelsText.map { try ConnectSettings.labels($0, flag: "next-labels", env: "NSM_NEXT_LABELS") }
          ?? [:]
      )
    } else if nextLabelsText != nil {
      throw ValidationError("--next-labels / NSM_NEXT_LABELS needs --passthrough")
    }
    let isSupplier = supplier || ["1", "true", "yes"].contains(setting(nil, env: "NSM_SUPPLIER")?.lowercased() ?? "")
    let command = setting(spawn, env: "NSM_SPAWN")
    if isSupplier {
      guard let command, !command.trimmingCharacters(in: .whitespaces).isEmpty else {
        throw ValidationError("--supplier needs --spawn 'COMMAND' (env NSM_SPAWN)")
      }
      guard configuration.passthrough == nil else {
        throw ValidationError("--supplier and --passthrough exclude each other")
      }
      configuration.supplierCommand = command
    } else if command != nil {
      throw ValidationError("--spawn / NSM_SPAWN needs --supplier")
    }
    configuration.vl3 = vl3 || ["1", "true", "yes"].contains(setting(nil, env: "NSM_VL3")?.lowercased() ?? "")
    if configuration.vl3 && (configuration.passthrough != nil || configuration.supplierCommand != nil) {
      throw ValidationError("--vl3 excludes --passthrough and --supplier")
    }
    if configuration.passthrough != nil {
      configuration.links = try ConnectSettings.dataplane(setting(dataplane, env: "NSM_DATAPLANE"))
    }
    if let text = setting(idleTimeout, env: "NSM_IDLE_TIMEOUT") {
      configuration.idleTimeout = try ConnectSettings.duration(text, flag: "idle-timeout", env: "NSM_IDLE_TIMEOUT")
    }
    return configuration
  }

  func run() async throws {
    var configuration = try makeConfiguration()
    _ = try bootstrapLogging(logLevel)
    let logger = Logger(label: "nsm.endpoint")
    configuration.identity = try tls.identity(logger: logger)
    configuration.maxTokenLifetime = try tls.tokenLifetime()
    try ConnectSettings.prepare(configuration.listen)
    let endpoint = try EndpointServer(configuration: configuration, logger: logger)
    let services = endpoint.services
    try await runServices(services, endingGroup: [services.count - 1], logger: logger)
  }
}
