internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import Logging
internal import NSMAPI
internal import NSMConnect
internal import NSMCore
internal import NSMTransport
internal import ServiceLifecycle
internal import SwiftProtobuf

/// `nsm client`: requests network services and keeps them until stopped.
struct ClientCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "client",
    abstract: "Connect to network services through the node's manager, keep the connections, heal them.",
    discussion: """
      Each --network-service is kernel://NAME[@DOMAIN][/INTERFACE][?label=value&...] or a bare NAME. \
      Every connection is printed when established and whenever it changes (-o json: one Connection \
      per line in protobuf's JSON mapping). SIGTERM or SIGINT closes them all and exits 0; a first \
      request that cannot succeed within --request-timeout exits 1 with the server's reason.
      """
  )

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case table, json
  }

  @Option(help: "Its manager (env NSM_CONNECT_TO; default \(ConnectSettings.defaultManagerSocket)).") var connectTo:
    String?
  @Option(help: "A network service to connect to; repeatable (env NSM_NETWORK_SERVICES, comma-separated).")
  var networkService: [String] = []
  @Option(help: "Source labels of every request, k=v,... (env NSM_LABELS).") var labels: String?
  @Option(help: "How long a first request is retried (env NSM_REQUEST_TIMEOUT; default 15s).") var requestTimeout:
    String?
  @Option(help: "Its name in connection paths (env NSM_NAME; default nsc-<pid>).") var name: String?
  @Option(name: .shortAndLong, help: "table or json.") var output: Format = .table

  @OptionGroup(title: "Identity") var tls: TLSOptions
  @Option(help: "trace, debug, info, warn, error (env NSM_LOG_LEVEL; default warn).") var logLevel: String?

  func makeConfiguration() throws -> ClientConfiguration {
    let texts = settingList(networkService, env: "NSM_NETWORK_SERVICES")
    guard !texts.isEmpty else {
      throw ValidationError("--network-service / NSM_NETWORK_SERVICES: name at least one network service")
    }
    let urls = try texts.map { text in
      try parseSetting(text, flag: "network-service", env: "NSM_NETWORK_SERVICES") {
        try NetworkServiceURL(parsing: $0)
      }
    }
    let name = setting(name, env: "NSM_NAME") ?? "nsc-\(ProcessInfo.processInfo.processIdentifier)"
    try parseSetting(name, flag: "name", env: "NSM_NAME") { try NameRules.validate($0, field: "name") }
    let manager = try ConnectSettings.address(
      setting(connectTo, env: "NSM_CONNECT_TO") ?? ConnectSettings.defaultManagerSocket,
      flag: "connect-to",
      env: "NSM_CONNECT_TO"
    )
    var configuration = ClientConfiguration(name: name, connectTo: manager, services: urls)
    if let text = setting(labels, env: "NSM_LABELS") {
      configuration.labels = try ConnectSettings.labels(text, flag: "labels", env: "NSM_LABELS")
    }
    if let text = setting(requestTimeout, env: "NSM_REQUEST_TIMEOUT") {
      configuration.requestTimeout = try ConnectSettings.duration(
        text,
        flag: "request-timeout",
        env: "NSM_REQUEST_TIMEOUT"
      )
    }
    return configuration
  }

  func run() async throws {
    var configuration = try makeConfiguration()
    if logLevel == nil && setting(nil, env: "NSM_LOG_LEVEL") == nil {
      LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .warning
        return handler
      }
    } else {
      _ = try bootstrapLogging(logLevel)
    }
    let logger = Logger(label: "nsm.client")
    configuration.identity = try tls.identity(logger: logger)
    configuration.maxTokenLifetime = try tls.tokenLifetime()
    let printer = ConnectionPrinter(format: output)
    let client = NetworkServiceClient(configuration: configuration, logger: logger) { printer.print($0) }
    do {
      try await runServices([ClientService(client: client)], endingGroup: [0], logger: logger)
    } catch let failure as ClientFailure {
      printError("error: \(failure) [\(failure.code.map(statusName) ?? "UNKNOWN")]")
      throw ExitCode.failure
    } catch let error as RPCError {
      printError("error: \(describe(error))")
      throw ExitCode.failure
    } catch let error as NSMError {
      printError("error: \(error.message) [\(error.code)]")
      throw ExitCode.failure
    }
  }
}

/// The client as a service: it runs until the group's graceful shutdown (a signal).
struct ClientService: Service {
  let client: NetworkServiceClient

  func run() async throws {
    try await client.run(until: { try? await gracefulShutdown() })
  }
}

/// Prints a client's events: a table row each, or one JSON Connection per line.
final class ConnectionPrinter: Sendable {
  let format: ClientCommand.Format
  private let printedHeader = OnceFlag()

  init(format: ClientCommand.Format) {
    self.format = format
  }

  func print(_ event: ClientEvent) {
    switch format {
    case .json:
      guard event.kind != .closed else { return }
      if let line = try? event.connection.jsonString() { emit(line + "\n") }
    case .table:
      if !printedHeader.testAndSet() { emit(ConnectionTable.line(ConnectionTable.eventHeader)) }
      emit(ConnectionTable.line(ConnectionTable.eventRow(event.kind.rawValue.uppercased(), event.connection)))
    }
  }
}
