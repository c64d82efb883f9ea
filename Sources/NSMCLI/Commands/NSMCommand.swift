public import ArgumentParser

/// `nsm`: the one binary of swift-nsm.
public struct NSMCommand: AsyncParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "nsm",
    abstract: "swift-nsm: Network Service Mesh's inter-domain control plane.",
    subcommands: [
      RegistryCommand.self, ApplyCommand.self, GetCommand.self, DeleteCommand.self, DNSCommand.self, CertCommand.self,
      PolicyCommand.self, ManagerCommand.self, EndpointCommand.self, ClientCommand.self, ProxyCommand.self,
    ]
  )

  public init() {}
}
