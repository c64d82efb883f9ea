internal import GRPCCore
public import NSMAPI
public import NSMRegistry

/// The responses of an open watch, read one at a time by a test.
public typealias WatchIterator<Message: Sendable> = AsyncThrowingStream<Message, any Error>.AsyncIterator

extension RegistryClient {
  /// Opens `Find{watch: true}` for endpoints matching `query`, hands `body` an iterator over the
  /// responses, and cancels the watch when `body` returns. With `marked`, our registries send
  /// an empty response after the initial matches: a test knows the watch is in place.
  public func watch<Result: Sendable>(
    _ query: Registry_NetworkServiceEndpoint,
    marked: Bool = false,
    _ body: (inout WatchIterator<Registry_NetworkServiceEndpointResponse>) async throws -> Result
  ) async throws -> Result {
    let request = Registry_NetworkServiceEndpointQuery.with {
      $0.networkServiceEndpoint = query
      $0.watch = true
    }
    let endpoints = self.endpoints
    let metadata: Metadata = marked ? ForwardingInfo(wantsSnapshotMarker: true).metadata : [:]
    return try await withStream(
      { yield in
        try await endpoints.find(request, metadata: metadata) { response in
          for try await message in response.messages { yield(message) }
        }
      },
      body
    )
  }

  /// Opens `Find{watch: true}` for Network Services matching `query`; see the endpoint variant.
  public func watch<Result: Sendable>(
    _ query: Registry_NetworkService,
    _ body: (inout WatchIterator<Registry_NetworkServiceResponse>) async throws -> Result
  ) async throws -> Result {
    let request = Registry_NetworkServiceQuery.with {
      $0.networkService = query
      $0.watch = true
    }
    let services = self.networkServices
    return try await withStream(
      { yield in
        try await services.find(request) { response in
          for try await message in response.messages { yield(message) }
        }
      },
      body
    )
  }
}

/// Runs `produce` in a child task, feeding what it yields to `body`'s iterator; an error from
/// `produce` ends the iteration with that error. Cancels `produce` when `body` returns.
func withStream<Message: Sendable, Result: Sendable>(
  _ produce: @escaping @Sendable (@escaping @Sendable (Message) -> Void) async throws -> Void,
  _ body: (inout WatchIterator<Message>) async throws -> Result
) async throws -> Result {
  let (stream, continuation) = AsyncThrowingStream<Message, any Error>.makeStream()
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      do {
        try await produce { continuation.yield($0) }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    var iterator = stream.makeAsyncIterator()
    let result = try await body(&iterator)
    group.cancelAll()
    return result
  }
}
