internal import ArgumentParser
internal import NSMAPI

/// `nsm delete ns|nse NAME`: unregisters by name (succeeds for a name that is not there).
struct DeleteCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "delete",
    abstract: "Unregister a network service (ns) or endpoint (nse) by name."
  )

  @Argument(help: "ns or nse.") var kind: ResourceKind
  @Argument(help: "The name to unregister.") var name: String
  @OptionGroup var client: ClientOptions

  func run() async throws {
    try await client.withClient { registry in
      switch kind {
      case .ns: try await registry.unregister(Registry_NetworkService.with { $0.name = name })
      case .nse: try await registry.unregister(Registry_NetworkServiceEndpoint.with { $0.name = name })
      }
    }
    emit("\(kind.noun)/\(name) deleted\n")
  }
}
