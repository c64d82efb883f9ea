public import Logging
public import NSMAPI
public import PostgresNIO
public import ServiceLifecycle

/// Everything a registry replica runs on one PostgreSQL database: the connection pool, the
/// change feed, and the two stores.
public final class PostgresDatabase: Sendable {
  public struct Options: Sendable {
    /// How long one store operation may take before the call gets UNAVAILABLE.
    public var deadline: Duration = .seconds(5)
    /// How long the change log keeps changes for replicas that lost their connection.
    public var retention: Duration = .seconds(600)
    /// How often changes older than the retention are pruned.
    public var pruneInterval: Duration = .seconds(30)

    public init() {}
  }

  public let client: PostgresClient
  public let feed: ChangeFeed
  public let networkServices: PostgresRecordStore<Registry_NetworkService>
  public let endpoints: PostgresRecordStore<Registry_NetworkServiceEndpoint>
  private let logger: Logger

  public init(url: PostgresStoreURL, options: Options = Options(), logger: Logger) {
    var logger = logger
    logger[metadataKey: "store"] = "\(url)"
    self.logger = logger
    client = PostgresClient(configuration: url.configuration, backgroundLogger: logger)
    feed = ChangeFeed(
      client: client,
      retention: options.retention,
      pruneInterval: options.pruneInterval,
      logger: logger
    )
    networkServices = PostgresRecordStore(client: client, feed: feed, deadline: options.deadline, logger: logger)
    endpoints = PostgresRecordStore(client: client, feed: feed, deadline: options.deadline, logger: logger)
  }

  /// Applies the schema migrations (see ``Migrations``), retrying while the database cannot be
  /// reached when `waitForDatabase` is set. The client must be running.
  public func migrate(waitForDatabase: Bool) async throws {
    var delay = Duration.milliseconds(200)
    while true {
      do {
        try await Migrations.run(on: client, logger: logger)
        return
      } catch let error as MigrationError {
        throw error
      } catch {
        guard waitForDatabase, !Task.isCancelled else { throw storeError(error, operation: "migrate") }
        logger.warning("database not reachable yet; retrying", metadata: ["error": "\(error)"])
        try await Task.sleep(for: delay)
        delay = min(delay * 2, .seconds(5))
      }
    }
  }

  /// The pool and the change feed; start them before the registry server.
  public var services: [any Service] { [client, feed] }

  /// Open watches on this replica.
  public var watcherCount: Int { feed.watcherCount }
}
