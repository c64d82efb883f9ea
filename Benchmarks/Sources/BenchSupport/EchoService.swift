package import Foundation
package import GRPCCore
internal import GRPCProtobuf
package import SwiftProtobuf

/// The baseline every benchmark compares with: one unary method that returns the message it
/// was sent, with nothing behind it. Same gRPC stack, transport and protobuf codec as the
/// service measured, so that service's own cost is what the ratio to this adds.
package struct EchoService<Message: SwiftProtobuf.Message & Sendable>: RegistrableRPCService {
  package static var method: MethodDescriptor {
    MethodDescriptor(fullyQualifiedService: "bench.Echo", method: "Echo", type: .unary)
  }

  package init() {}

  package func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: Self.method,
      deserializer: ProtobufDeserializer<Message>(),
      serializer: ProtobufSerializer<Message>(),
      handler: { request, _ in
        let single = try await ServerRequest(stream: request)
        return StreamingServerResponse(single: ServerResponse(message: single.message))
      }
    )
  }
}

extension GRPCClient {
  /// One call of `bench.Echo/Echo`.
  package func echo<Message: SwiftProtobuf.Message & Sendable>(_ message: Message) async throws -> Message {
    try await unary(
      request: ClientRequest(message: message),
      descriptor: EchoService<Message>.method,
      serializer: ProtobufSerializer<Message>(),
      deserializer: ProtobufDeserializer<Message>(),
      options: .defaults,
      onResponse: { try $0.message }
    )
  }
}

/// The first lines of a benchmark's report: what ran, how, and how loaded the machine was.
package func reportHeader(
  tool: String,
  startedAt: Date,
  clients: Int,
  warmup: Duration,
  plan: Plan,
  loadBefore: String?,
  loadAfter: String?
) -> [String] {
  #if DEBUG
    let build = "debug"
  #else
    let build = "release"
  #endif
  let measured: String
  switch plan {
  case .duration(let duration): measured = "\(format(duration.seconds, digits: 1)) s per scenario"
  case .calls(let count): measured = "\(count) calls per client per scenario"
  }
  let info = ProcessInfo.processInfo
  var lines = [
    "\(tool) \(ISO8601DateFormatter().string(from: startedAt)): \(build) build, "
      + "\(info.activeProcessorCount) cores, \(info.operatingSystemVersionString); "
      + "\(clients) clients closed-loop, \(format(warmup.seconds, digits: 1)) s warm-up, \(measured)"
  ]
  if let loadBefore, let loadAfter {
    lines += ["", "Load average (1, 5, 15 min) at start: \(loadBefore); at end: \(loadAfter)"]
  }
  return lines
}
