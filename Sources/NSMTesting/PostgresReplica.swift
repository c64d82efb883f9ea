public import Logging
public import NSMCore
public import NSMPostgres
public import NSMRegistry
internal import ServiceLifecycle

/// A running ``PostgresDatabase`` (one registry replica's worth) on `url`, migrated, with its
/// pool and change feed running for `body`.
public func withPostgresDatabase<Result: Sendable>(
  _ url: String,
  poolSize: Int = 4,
  options: PostgresDatabase.Options = .forTests,
  logLevel: Logger.Level = .critical,
  logger given: Logger? = nil,
  _ body: (PostgresDatabase) async throws -> Result
) async throws -> Result {
  var logger = given ?? Logger(label: "test-postgres")
  if given == nil { logger.logLevel = logLevel }
  let database = PostgresDatabase(
    url: try PostgresStoreURL(parsing: url, poolSize: poolSize),
    options: options,
    logger: logger
  )
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await database.client.run() }
    do {
      try await database.migrate(waitForDatabase: false)
      group.addTask { try await database.feed.run() }
      let result = try await body(database)
      group.cancelAll()
      return result
    } catch {
      group.cancelAll()
      throw error
    }
  }
}

/// A registry server on `database`'s stores, listening on a free loopback port, for `body`;
/// shut down gracefully afterwards.
public func withPostgresRegistry<Result: Sendable>(
  on database: PostgresDatabase,
  configure: (inout RegistryConfiguration) -> Void = { _ in },
  logLevel: Logger.Level = .critical,
  _ body: (ServiceAddress) async throws -> Result
) async throws -> Result {
  var configuration = RegistryConfiguration()
  configuration.listen = .tcp(host: "127.0.0.1", port: 0)
  configure(&configuration)
  var logger = Logger(label: "test-registry")
  logger.logLevel = logLevel
  let server = try RegistryServer(
    configuration: configuration,
    networkServices: database.networkServices,
    endpoints: database.endpoints,
    logger: logger
  )
  var groupConfiguration = ServiceGroupConfiguration(services: server.services, logger: logger)
  // A call stuck past this is cancelled, so a test fails instead of hanging the whole run.
  groupConfiguration.maximumGracefulShutdownDuration = .seconds(15)
  let group = ServiceGroup(configuration: groupConfiguration)
  return try await withThrowingTaskGroup(of: Void.self) { tasks in
    tasks.addTask { try await group.run() }
    do {
      // The transport's own readiness: returns once the port is bound.
      let address = try await server.listeningAddress
      let result = try await body(address)
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
      return result
    } catch {
      await group.triggerGracefulShutdown()
      try? await tasks.waitForAll()
      throw error
    }
  }
}

extension PostgresDatabase.Options {
  /// The product's options with a store-call deadline that a suite running everything at once
  /// on two cores does not miss (5 s did, now and then); tests of the deadline set their own.
  public static var forTests: Self {
    var options = Self()
    options.deadline = .seconds(20)
    return options
  }
}
