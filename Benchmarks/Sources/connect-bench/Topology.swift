import BenchSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NSMAPI
import NSMAPIGRPC
import NSMConnect
import NSMCore
import NSMRegistry
import NSMTesting
import NSMTransport
import ServiceLifecycle

/// Two nodes in one process: a registry, a manager per node, an endpoint on each, and an echo
/// server, all on loopback (unix sockets for workloads, tcp between managers).
struct Topology {
  let folder: String
  let manager1: ServiceAddress
  let echo: ServiceAddress

  static let localService = "bench-local"
  static let remoteService = "bench-remote"

  static func run<Result: Sendable>(_ body: (Topology) async throws -> Result) async throws -> Result {
    let folder = "/tmp/nsm-bench-" + String(UUID().uuidString.prefix(8)).lowercased()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    return try await TestRegistry.run(configure: { $0.expirePeriod = .seconds(3600) }) { registry in
      try await RegistryClient.with(address: registry.address) { client in
        for name in [localService, remoteService] {
          _ = try await client.register(Registry_NetworkService.with { $0.name = name })
        }
      }
      var services: [any Service] = []
      var managers: [ServiceAddress] = []
      for node in 1...2 {
        var configuration = ManagerConfiguration()
        configuration.name = "mgr-\(node)"
        let port = try freeLoopbackPort()
        let socket = ServiceAddress.unix(path: "\(folder)/mgr-\(node).sock")
        configuration.listen = [socket, .tcp(host: "127.0.0.1", port: port)]
        configuration.url = ServiceAddress.tcp(host: "127.0.0.1", port: port).description
        configuration.registry = registry.address
        configuration.nodeName = "node-\(node)"
        configuration.tunnelIP = "127.0.0.1"
        let manager = try NetworkServiceManager(configuration: configuration, logger: logger)
        services += manager.services
        managers.append(socket)
        var endpoint = EndpointConfiguration(
          name: "nse-\(node)",
          services: [node == 1 ? localService : remoteService],
          cidr: try IPPrefix(parsing: "10.\(node).0.0/16"),
          listen: .unix(path: "\(folder)/nse-\(node).sock")
        )
        endpoint.connectTo = socket
        endpoint.expirePeriod = .seconds(3600)
        services += try EndpointServer(configuration: endpoint, logger: logger).services
      }
      let echo = ServiceAddress.unix(path: "\(folder)/echo.sock")
      let echoHost = try GRPCServerHost(address: echo, identity: nil, services: [EchoService<Connection_Connection>()])
      let group = ServiceGroup(services: services, logger: logger)
      return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        tasks.addTask { try await echoHost.serve() }
        defer {
          echoHost.beginGracefulShutdown()
          Task { await group.triggerGracefulShutdown() }
        }
        // Both endpoints registered.
        try await RegistryClient.with(address: registry.address) { client in
          while try await client.find(Registry_NetworkServiceEndpoint()).count < 2 {
            try await Task.sleep(for: .milliseconds(20))
          }
        }
        let result = try await body(Topology(folder: folder, manager1: managers[0], echo: echo))
        echoHost.beginGracefulShutdown()
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
      }
    }
  }
}

/// A workload's client of its manager: Request and Close as `nsm client` sends them.
struct ManagerClient: Sendable {
  let grpc: GRPCClient<HTTP2ClientTransport.Posix>
  let name: String

  var service: Networkservice_NetworkService.Client<HTTP2ClientTransport.Posix> { .init(wrapping: grpc) }

  func request(_ service: String, id: String) async throws -> Connection_Connection {
    var request = Networkservice_NetworkServiceRequest()
    request.connection.id = id
    request.connection.networkService = service
    request.connection.path.pathSegments = [
      .with {
        $0.name = name
        $0.id = id
        $0.expires = .init(date: Date().addingTimeInterval(600))
      }
    ]
    request.mechanismPreferences = [Mechanisms.kernel(interface: "nsm-1", inodeURL: "file:///proc/1/ns/net")]
    return try await self.service.request(request)
  }

  func refresh(_ connection: Connection_Connection) async throws -> Connection_Connection {
    var request = Networkservice_NetworkServiceRequest()
    request.connection = connection
    request.connection.path.pathSegments[0].expires = .init(date: Date().addingTimeInterval(600))
    request.mechanismPreferences = [Mechanisms.kernel(interface: "nsm-1", inodeURL: "file:///proc/1/ns/net")]
    return try await service.request(request)
  }

  func close(_ connection: Connection_Connection) async throws {
    _ = try await service.close(connection)
  }
}

/// Opens `count` clients of `address`, each its own connection.
func withGRPCClients<Result: Sendable>(
  _ count: Int,
  address: ServiceAddress,
  opened: [GRPCClient<HTTP2ClientTransport.Posix>] = [],
  _ body: ([GRPCClient<HTTP2ClientTransport.Posix>]) async throws -> Result
) async throws -> Result {
  if opened.count == count { return try await body(opened) }
  return try await ClientFactory().with(address: address) { client in
    try await withGRPCClients(count, address: address, opened: opened + [client], body)
  }
}

/// Resident memory of this process, bytes (/proc/self/statm).
func residentBytes() -> Int {
  guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
  let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
  return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
