internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import NSMAPI
internal import NSMRegistry
internal import NSMTransport

/// `nsm get ns|nse [NAME] [--watch] [-o table|yaml|json]`.
struct GetCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "get",
    abstract: "List network services (ns) or endpoints (nse), or watch them change.",
    discussion: """
      With --watch the current entries are printed first, then every change until interrupted; \
      each line or document carries its event, UPDATE or DELETE.
      """
  )

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case table, yaml, json
  }

  @Argument(help: "ns, nse or connections.") var kind: GetKind
  @Argument(help: "Only this name.") var name: String?
  @Flag(name: .shortAndLong, help: "Keep printing changes.") var watch = false
  @Option(name: .shortAndLong, help: "table, yaml or json.") var output: Format = .table
  @Option(
    help:
      "For connections: the manager to ask (env NSM_CONNECT_TO; default \(ConnectSettings.defaultManagerSocket))."
  )
  var manager: String?
  @OptionGroup var client: ClientOptions

  func run() async throws {
    guard let kind = kind.resource else {
      try await ConnectionsListing(get: self).run()
      return
    }
    if watch {
      try await client.withClient { registry in try await self.watch(registry) }
      return
    }
    let resources: [Resource] = try await client.withClient { registry in
      switch kind {
      case .ns:
        return try await registry.find(Registry_NetworkService.with { $0.name = name ?? "" }).map(
          Resource.networkService
        )
      case .nse:
        return try await registry.find(Registry_NetworkServiceEndpoint.with { $0.name = name ?? "" }).map(
          Resource.endpoint
        )
      }
    }
    if let name, resources.isEmpty {
      printError("error: \(kind.noun) '\(name)' not found")
      throw ExitCode.failure
    }
    switch output {
    case .yaml: emit(try ResourceRenderer.yaml(resources))
    case .json: emit(try ResourceRenderer.json(resources, single: name != nil))
    case .table: emit(table(resources, events: nil))
    }
  }

  private func watch(_ registry: RegistryClient) async throws {
    switch kind.resource {
    case .ns:
      let request = Registry_NetworkServiceQuery.with {
        $0.networkService.name = name ?? ""
        $0.watch = true
      }
      try await registry.networkServices.find(request) { response in
        var header = false
        for try await event in response.messages {
          try self.show(.networkService(event.networkService), deleted: event.deleted, header: &header)
        }
      }
    case .nse:
      let request = Registry_NetworkServiceEndpointQuery.with {
        $0.networkServiceEndpoint.name = name ?? ""
        $0.watch = true
      }
      try await registry.endpoints.find(request) { response in
        var header = false
        for try await event in response.messages {
          try self.show(.endpoint(event.networkServiceEndpoint), deleted: event.deleted, header: &header)
        }
      }
    case nil: break
    }
  }

  private func show(_ resource: Resource, deleted: Bool, header: inout Bool) throws {
    let event = deleted ? "DELETE" : "UPDATE"
    switch output {
    case .table:
      var text = table([resource], events: [event])
      if header {
        text = String(text.split(separator: "\n", maxSplits: 1).last ?? "") + "\n"
      }
      // Columns widen per row in watch mode; alignment across events is not kept.
      emit(text)
      header = true
    case .yaml:
      let document = try ResourceRenderer.yaml([resource])
      emit("# \(event)\n" + document)
    case .json:
      let object = try ResourceRenderer.json([resource], single: true)
      let compact = object.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined()
      emit("{\"type\":\"\(event)\",\"object\":\(compact)}\n")
    }
  }

  private func table(_ resources: [Resource], events: [String]?) -> String {
    let header =
      (events == nil ? [] : ["EVENT"])
      + (kind == .ns ? ResourceTable.networkServiceHeader : ResourceTable.endpointHeader)
    let rows = resources.enumerated().map { index, resource -> [String] in
      let cells: [String]
      switch resource {
      case .networkService(let ns): cells = ResourceTable.row(ns)
      case .endpoint(let nse): cells = ResourceTable.row(nse)
      }
      return (events.map { [$0[index]] } ?? []) + cells
    }
    return ResourceTable.render(rows, header: header)
  }
}

/// What `get` lists: registry entries, or a manager's connections.
enum GetKind: ExpressibleByArgument {
  case ns, nse, connections

  init?(argument: String) {
    switch argument.lowercased() {
    case "connections", "connection", "conn", "conns": self = .connections
    default:
      switch ResourceKind(argument: argument) {
      case .ns?: self = .ns
      case .nse?: self = .nse
      case nil: return nil
      }
    }
  }

  var resource: ResourceKind? {
    switch self {
    case .ns: .ns
    case .nse: .nse
    case .connections: nil
    }
  }
}
