internal import ArgumentParser
internal import Logging
internal import NSMAPI
internal import NSMCore
internal import NSMPostgres
internal import NSMRegistry
internal import NSMSecurity
internal import NSMStore
internal import NSMTransport
internal import ServiceLifecycle

/// `nsm registry`: a domain's registry; `nsm registry migrate` prepares its database.
struct RegistryCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "registry",
    abstract: "Run a domain registry (NSM's NS and NSE registries).",
    subcommands: [RegistryServeCommand.self, RegistryMigrateCommand.self],
    defaultSubcommand: RegistryServeCommand.self
  )
}

/// The store options, shared by serving and migrating.
struct StoreOptions: ParsableArguments {
  @Option(
    help: "memory, or postgres://user:password@host:port/database[?sslmode=...] (env NSM_STORE; default memory)."
  )
  var store: String?

  @Option(help: "Connections in the PostgreSQL pool (env NSM_STORE_POOL_SIZE; default 10).")
  var storePoolSize: String?

  /// nil for the embedded store.
  func postgresURL() throws -> PostgresStoreURL? {
    let text = setting(store, env: "NSM_STORE") ?? "memory"
    if text == "memory" { return nil }
    var poolSize = 10
    if let size = setting(storePoolSize, env: "NSM_STORE_POOL_SIZE") {
      guard let value = Int(size), value > 0 else {
        throw ValidationError("--store-pool-size / NSM_STORE_POOL_SIZE: '\(size)' is not a positive number")
      }
      poolSize = value
    }
    return try parseSetting(text, flag: "store", env: "NSM_STORE") {
      try PostgresStoreURL(parsing: $0, poolSize: poolSize)
    }
  }
}

/// Bootstraps swift-log once for the process, at the level of `--log-level` / `NSM_LOG_LEVEL`.
func bootstrapLogging(_ flag: String?) throws -> Logger.Level {
  let level =
    try setting(flag, env: "NSM_LOG_LEVEL").map {
      try parseSetting($0, flag: "log-level", env: "NSM_LOG_LEVEL", parseLogLevel)
    } ?? .info
  LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
  }
  return level
}

struct RegistryServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve the registry (the default)."
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

  @OptionGroup var storeOptions: StoreOptions

  @OptionGroup(title: "Federation") var federation: FederationOptions

  @OptionGroup(title: "Identity") var tls: TLSOptions

  @OptionGroup(title: "Limits") var limits: ServerLimitOptions

  @Option(
    help:
      "A domain policy file (YAML), re-read when it changes (env NSM_POLICY_FILE; default: only the own trust domain)."
  )
  var policy: String?

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
    try federation.apply(to: &configuration)
    try limits.apply(to: &configuration.limits)
    let served = configuration.served
    try parseSetting(configuration.domain, flag: "floating-domain", env: "NSM_FLOATING_DOMAINS") { _ in
      try served.validate()
    }
    return configuration
  }

  func run() async throws {
    var configuration = try makeConfiguration()
    let postgres = try storeOptions.postgresURL()
    _ = try bootstrapLogging(logLevel)
    let logger = Logger(label: "nsm.registry")
    configuration.security.identity = try tls.identity(logger: logger)
    configuration.security.maxTokenLifetime = try tls.tokenLifetime()
    if let path = setting(policy, env: "NSM_POLICY_FILE") {
      guard configuration.security.identity != nil else {
        throw ValidationError("--policy / NSM_POLICY_FILE needs an identity (--tls-dir); --insecure checks no policy")
      }
      configuration.security.policy = try parseSetting(path, flag: "policy", env: "NSM_POLICY_FILE") {
        try PolicySource(file: $0)
      }
    }
    if let identity = configuration.security.identity {
      logger.info("mTLS", metadata: ["id": "\(identity.id)", "trust-roots": "\(identity.svid.trustRoots.count)"])
    } else {
      logger.warning("--insecure: plaintext gRPC, no identities, no policies; for local development only")
    }
    if configuration.federation.directory == nil {
      logger.warning("no name server (--dns-server, /etc/resolv.conf): name@other-domain calls are refused")
    }

    guard let postgres else {
      let server = try RegistryServer(
        configuration: configuration,
        networkServices: MemoryRecordStore<Registry_NetworkService>(),
        endpoints: MemoryRecordStore<Registry_NetworkServiceEndpoint>(),
        logger: logger
      )
      try await runServices(server.services, logger: logger)
      return
    }

    let database = PostgresDatabase(url: postgres, logger: logger)
    let server = try RegistryServer(
      configuration: configuration,
      networkServices: database.networkServices,
      endpoints: database.endpoints,
      logger: logger
    )
    // The schema comes first, so the pool runs on its own until it is in place; a database
    // that is not up yet is waited for, as Kubernetes would otherwise restart us in a loop.
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { await database.client.run() }
      try await database.migrate(waitForDatabase: true)
      try await runServices([database.feed] + server.services, logger: logger)
      group.cancelAll()
    }
  }
}

struct RegistryMigrateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "migrate",
    abstract: "Apply the PostgreSQL schema migrations, then exit."
  )

  @OptionGroup var storeOptions: StoreOptions

  @Option(help: "trace, debug, info, warn, error (env NSM_LOG_LEVEL; default info).")
  var logLevel: String?

  func run() async throws {
    guard let postgres = try storeOptions.postgresURL() else {
      throw ValidationError("--store / NSM_STORE must be a postgres:// URL to migrate")
    }
    _ = try bootstrapLogging(logLevel)
    let logger = Logger(label: "nsm.registry.migrate")
    let database = PostgresDatabase(url: postgres, logger: logger)
    do {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await database.client.run() }
        try await database.migrate(waitForDatabase: false)
        group.cancelAll()
      }
    } catch {
      printError("error: migrating \(postgres) failed: \(error)")
      throw ExitCode.failure
    }
    logger.info("schema is at version \(Migrations.latestVersion)")
  }
}
