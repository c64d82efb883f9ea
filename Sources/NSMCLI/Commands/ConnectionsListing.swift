internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import Logging
internal import NSMAPI
internal import NSMAPIGRPC
internal import NSMConnect
internal import NSMCore
internal import NSMTransport
internal import SwiftProtobuf

/// `nsm get connections --manager URL [--watch] [-o table|json|yaml]`: the connections a
/// manager holds, hop by hop, from its MonitorConnections state transfer (and its changes).
struct ConnectionsListing {
  let get: GetCommand

  func run() async throws {
    let address = try ConnectSettings.address(
      setting(get.manager, env: "NSM_CONNECT_TO") ?? ConnectSettings.defaultManagerSocket,
      flag: "manager",
      env: "NSM_CONNECT_TO"
    )
    var logger = Logger(label: "nsm")
    logger.logLevel = .error
    let factory = ClientFactory(identity: try get.client.tls.identity(logger: logger))
    let watch = get.watch
    let output = get.output
    if output == .yaml { throw ValidationError("connections print as table or json (-o table|json)") }
    do {
      try await factory.with(address: address) { grpc in
        var options = CallOptions.defaults
        if !watch { options.timeout = .seconds(10) }
        try await Connection_MonitorConnection.Client(wrapping: grpc).monitorConnections(
          Connection_MonitorScopeSelector(),
          options: options
        ) { response in
          var printedHeader = false
          for try await event in response.messages {
            try Self.show(event, output: output, watch: watch, printedHeader: &printedHeader)
            if !watch { return }
          }
        }
      }
    } catch let error as RPCError {
      printError("error: \(describe(error)) (manager \(address))")
      throw ExitCode.failure
    }
  }

  static func show(
    _ event: Connection_ConnectionEvent,
    output: GetCommand.Format,
    watch: Bool,
    printedHeader: inout Bool
  ) throws {
    let connections = event.connections.values.sorted {
      ($0.networkService, $0.id) < ($1.networkService, $1.id)
    }
    let type =
      switch event.type {
      case .initialStateTransfer: "INITIAL"
      case .update: "UPDATE"
      case .delete: "DELETE"
      default: "\(event.type.rawValue)"
      }
    switch output {
    case .table:
      if !printedHeader {
        emit(ConnectionTable.line((watch ? ["EVENT"] : []) + ConnectionTable.header))
        printedHeader = true
      }
      for connection in connections {
        emit(ConnectionTable.line((watch ? [type] : []) + ConnectionTable.row(connection)))
      }
    case .json:
      for connection in connections {
        let object = try connection.jsonString()
        emit(watch ? "{\"type\":\"\(type)\",\"connection\":\(object)}\n" : object + "\n")
      }
    case .yaml:
      break  // refused before the call
    }
  }
}
