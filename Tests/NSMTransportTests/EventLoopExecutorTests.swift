import GRPCCore
import NIOPosix
import NSMCore
import NSMTransport
import Testing

/// Where a served call's handler runs: on an event loop of SwiftNIO (``EventLoopExecutor``),
/// not on Swift's cooperative pool, before and after it waits for its request.
struct EventLoopExecutorTests {
  /// Bytes through unchanged: the test's calls carry no protobuf.
  struct Raw: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] {
      bytes.withUnsafeBytes { Array($0) }
    }
  }

  /// Answers each call with two bytes: whether its handler ran on an event loop when it started,
  /// and once it had the request.
  struct WhereService: RegistrableRPCService {
    static let method = MethodDescriptor(fullyQualifiedService: "test.Where", method: "Run", type: .unary)

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
      router.registerHandler(forMethod: Self.method, deserializer: Raw(), serializer: Raw()) { request, _ in
        let atStart: UInt8 = MultiThreadedEventLoopGroup.currentEventLoop == nil ? 0 : 1
        _ = try await ServerRequest(stream: request)
        let withRequest: UInt8 = MultiThreadedEventLoopGroup.currentEventLoop == nil ? 0 : 1
        return StreamingServerResponse(single: ServerResponse(message: [atStart, withRequest]))
      }
    }
  }

  @Test func aServedCallsHandlerRunsOnAnEventLoop() async throws {
    let host = try GRPCServerHost(
      address: .tcp(host: "127.0.0.1", port: 0),
      identity: nil,
      services: [WhereService()]
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await host.serve() }
      let address = try await host.listeningAddress
      let answers = try await ClientFactory().with(address: address) { client in
        try await (0..<4).asyncMap { _ in
          try await client.unary(
            request: ClientRequest(message: [UInt8]()),
            descriptor: WhereService.method,
            serializer: Raw(),
            deserializer: Raw(),
            options: .defaults
          ) { try $0.message }
        }
      }
      #expect(answers == Array(repeating: [1, 1], count: 4))
      host.beginGracefulShutdown()
      try await group.waitForAll()
    }
  }
}

extension Sequence where Element: Sendable {
  fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
    var results: [T] = []
    for element in self { results.append(try await transform(element)) }
    return results
  }
}
