internal import GRPCCore
internal import GRPCNIOTransportHTTP2
internal import GRPCProtobuf
internal import NSMAPI
internal import NSMCore
internal import NSMRegistry
internal import NSMStore
internal import NSMTransport
internal import SwiftProtobuf

/// One registry service of a manager (the seed: workloads talk only to their manager): calls
/// pass to the domain registry, an endpoint's registration on its way changed by ``hooks``
/// (the manager's URL instead of the endpoint's socket, this node's labels).
struct RegistryPassage<Record: FederatedRecord>: RegistrableRPCService {
  struct Hooks: Sendable {
    /// What goes to the registry instead of what the workload sent.
    var outgoing: @Sendable (Record) throws(NSMError) -> Record = { $0 }
    /// After a registration: what the workload is answered (given its request and the stored record).
    var registered: @Sendable (Record, Record) -> Record = { $1 }
    var unregistered: @Sendable (Record) -> Void = { _ in }
  }

  let registry: GRPCClient<HTTP2ClientTransport.Posix>
  let streams: ActiveStreams
  let hooks: Hooks
  var defaultTimeout: Duration = .seconds(15)

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: Record.methods.register,
      deserializer: ProtobufDeserializer<Record>(),
      serializer: ProtobufSerializer<Record>()
    ) { request, _ in
      let request = try await ServerRequest(stream: request)
      let stored = try await mappingErrors {
        let outgoing = try hooks.outgoing(request.message)
        let (stored, _) = try await Record.register(outgoing, on: registry, options: options(request.metadata))
        return hooks.registered(request.message, stored)
      }
      return StreamingServerResponse(single: ServerResponse(message: stored))
    }
    router.registerHandler(
      forMethod: Record.methods.find,
      deserializer: ProtobufDeserializer<Record.Query>(),
      serializer: ProtobufSerializer<Record.Response>()
    ) { request, _ in
      let request = try await ServerRequest(stream: request)
      let query = request.message
      let options = query.watch ? CallOptions.defaults : options(request.metadata)
      return StreamingServerResponse { writer in
        let pass: @Sendable () async throws -> Void = {
          try await Record.find(query.template, watch: query.watch, on: registry, options: options) { _, responses in
            for try await response in responses { try await writer.write(response) }
          }
        }
        if query.watch { try await streams.run(pass) } else { try await pass() }
        return [:]
      }
    }
    router.registerHandler(
      forMethod: Record.methods.unregister,
      deserializer: ProtobufDeserializer<Record>(),
      serializer: ProtobufSerializer<Google_Protobuf_Empty>()
    ) { request, _ in
      let request = try await ServerRequest(stream: request)
      try await mappingErrors {
        try await Record.unregister(
          try hooks.outgoing(request.message),
          on: registry,
          options: options(request.metadata)
        )
        hooks.unregistered(request.message)
      }
      return StreamingServerResponse(single: ServerResponse(message: Google_Protobuf_Empty()))
    }
  }

  private func options(_ metadata: Metadata) -> CallOptions {
    var options = CallOptions.defaults
    options.timeout =
      GRPCTimeout.timeout(in: metadata) ?? defaultTimeout
    return options
  }
}

extension RegistryPassage<Registry_NetworkServiceEndpoint>.Hooks {
  /// Upstream's `localbypass` and registry `clientinfo`: the registry stores the manager's URL
  /// and this node's labels (added where absent); the manager remembers where the endpoint
  /// really listens.
  static func manager(routing: Routing, labels: [String: String]) -> Self {
    Self(
      outgoing: { endpoint throws(NSMError) in
        var endpoint = endpoint
        if endpoint.url.isEmpty {
          throw .invalidArgument("endpoint '\(endpoint.name)' has no URL: the manager must know where to reach it")
        }
        do throws(NSMError) {
          _ = try ServiceAddress(parsing: endpoint.url)
        } catch {
          throw .invalidArgument("endpoint '\(endpoint.name)': URL '\(endpoint.url)': \(error.message)")
        }
        endpoint.url = routing.ownURL
        for service in endpoint.networkServiceNames {
          var serviceLabels = endpoint.networkServiceLabels[service] ?? Registry_NetworkServiceLabels()
          for (key, value) in labels where serviceLabels.labels[key] == nil {
            serviceLabels.labels[key] = value
          }
          endpoint.networkServiceLabels[service] = serviceLabels
        }
        return endpoint
      },
      registered: { sent, stored in
        if let address = try? ServiceAddress(parsing: sent.url) { routing.addLocal(sent.name, at: address) }
        var answer = stored
        answer.url = sent.url
        return answer
      },
      unregistered: { routing.removeLocal($0.name) }
    )
  }
}
