internal import Foundation
public import GRPCNIOTransportHTTP2
internal import Logging
public import NSMAPI
public import NSMCore
public import NSMRegistry
public import NSMStore
internal import ServiceLifecycle

/// A registry with the embedded store, listening on a free loopback port, for one test.
public struct TestRegistry: Sendable {
  public typealias Server = RegistryServer<
    MemoryRecordStore<Registry_NetworkService>, MemoryRecordStore<Registry_NetworkServiceEndpoint>
  >

  public let server: Server
  public let address: ServiceAddress
  private let group: ServiceGroup

  /// Begins a graceful shutdown now, as SIGTERM would; `run` returns once it completes.
  public func shutdown() async {
    await group.triggerGracefulShutdown()
  }

  public var networkServices: MemoryRecordStore<Registry_NetworkService> { server.networkServices }
  public var endpoints: MemoryRecordStore<Registry_NetworkServiceEndpoint> { server.endpoints }

  /// A client connected to this registry for the duration of `body`.
  public func withClient<Result: Sendable>(
    configure: (inout RegistryClient.Transport.Config) -> Void = { _ in },
    _ body: (RegistryClient) async throws -> Result
  ) async throws -> Result {
    try await RegistryClient.with(address: address, configure: configure, body)
  }

  /// Starts a registry (port 0 on 127.0.0.1 unless `configure` says otherwise), runs `body`,
  /// then shuts the registry down gracefully and waits until it has stopped.
  public static func run<Result: Sendable>(
    configure: (inout RegistryConfiguration) -> Void = { _ in },
    _ body: (TestRegistry) async throws -> Result
  ) async throws -> Result {
    var configuration = RegistryConfiguration()
    configuration.listen = .tcp(host: "127.0.0.1", port: 0)
    configure(&configuration)
    var logger = Logger(label: "test-registry")
    logger.logLevel =
      ProcessInfo.processInfo.environment["NSM_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    let server = try Server(
      configuration: configuration,
      networkServices: MemoryRecordStore(),
      endpoints: MemoryRecordStore(),
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
        let result = try await body(TestRegistry(server: server, address: address, group: group))
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
}
