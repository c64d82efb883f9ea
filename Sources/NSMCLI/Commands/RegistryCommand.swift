internal import ArgumentParser
internal import Logging
internal import NSMAPI
internal import NSMCore
internal import NSMRegistry
internal import ServiceLifecycle

/// `nsm registry`: a domain's registry with the embedded store.
struct RegistryCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "registry",
    abstract: "Run a domain registry (NSM's NS and NSE registries) with the embedded store."
  )

  @Option(help: "Where to listen: tcp://host:port or unix:///path (env NSM_LISTEN_ON; default tcp://127.0.0.1:5002).")
  var listen: String?

  @Option(help: "The domain this registry serves (env NSM_DOMAIN; default cluster.local).")
  var domain: String?

  @Option(help: "Longest lease of an endpoint registration, e.g. 1m, 90s (env NSM_EXPIRE_PERIOD; default 1m).")
  var expirePeriod: String?

  @Option(
    help:
      "Events a watcher may fall behind before its stream ends with RESOURCE_EXHAUSTED (env NSM_WATCH_BUFFER; default 1024)."
  )
  var watchBuffer: String?

  @Option(help: "trace, debug, info, warn, error (env NSM_LOG_LEVEL; default info).")
  var logLevel: String?

  func makeConfiguration() throws -> RegistryConfiguration {
    var configuration = RegistryConfiguration()
    if let text = setting(listen, env: "NSM_LISTEN_ON") {
      configuration.listen = try parseSetting(text, flag: "listen", env: "NSM_LISTEN_ON") {
        let address = try ServiceAddress(parsing: $0)
        _ = try address.bindAddress()
        return address
      }
    }
    if let text = setting(domain, env: "NSM_DOMAIN") {
      configuration.domain = try parseSetting(text, flag: "domain", env: "NSM_DOMAIN") {
        try DomainName.validate($0)
        return $0
      }
    }
    if let text = setting(expirePeriod, env: "NSM_EXPIRE_PERIOD") {
      configuration.expirePeriod = try parseSetting(text, flag: "expire-period", env: "NSM_EXPIRE_PERIOD") {
        let period = try GoDuration.parse($0)
        guard period > .zero else { throw NSMError.invalidArgument("the expire period must be positive") }
        return period
      }
    }
    if let text = setting(watchBuffer, env: "NSM_WATCH_BUFFER") {
      guard let size = Int(text), size > 0 else {
        throw ValidationError("--watch-buffer / NSM_WATCH_BUFFER: '\(text)' is not a positive number")
      }
      configuration.watchBufferSize = size
    }
    return configuration
  }

  func run() async throws {
    let configuration = try makeConfiguration()
    let level =
      try setting(logLevel, env: "NSM_LOG_LEVEL").map {
        try parseSetting($0, flag: "log-level", env: "NSM_LOG_LEVEL", parseLogLevel)
      } ?? .info
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "nsm.registry")

    let server = try RegistryServer(
      configuration: configuration,
      networkServices: MemoryRecordStore<Registry_NetworkService>(),
      endpoints: MemoryRecordStore<Registry_NetworkServiceEndpoint>(),
      logger: logger
    )
    var groupConfiguration = ServiceGroupConfiguration(
      services: server.services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
      gracefulShutdownSignals: [.sigterm, .sigint],
      logger: logger
    )
    // A drain that never finishes (a stuck client) escalates to cancellation.
    groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
    try await ServiceGroup(configuration: groupConfiguration).run()
  }
}
