public import GRPCCore
internal import NSMCore

/// A server transport that looks at each call's metadata before grpc-swift does, and answers a
/// call the library could not survive with INVALID_ARGUMENT instead of passing it on.
///
/// grpc-swift traps (a precondition, so the process dies) on a `grpc-timeout` with a negative
/// amount (`-1n`, `-1S`), before any interceptor or handler runs: one header from any client
/// would take a server down. Every value a client may send is checked here.
public struct GuardedServerTransport<Base: ServerTransport>: ServerTransport {
  public typealias Bytes = Base.Bytes

  let base: Base

  public init(_ base: Base) {
    self.base = base
  }

  public func configure(context: GRPCServerContext) {
    base.configure(context: context)
  }

  public func beginGracefulShutdown() {
    base.beginGracefulShutdown()
  }

  public func listen(
    streamHandler: @escaping @Sendable (RPCStream<Inbound, Outbound>, ServerContext) async -> Void
  ) async throws {
    try await base.listen { stream, context in
      var parts = stream.inbound.makeAsyncIterator()
      let first: Result<RPCRequestPart<Bytes>?, any Error>
      do { first = .success(try await parts.next()) } catch { first = .failure(error) }
      if case .success(.metadata(let metadata)) = first, let problem = Self.problem(in: metadata) {
        try? await stream.outbound.write(.status(Status(code: .invalidArgument, message: problem), [:]))
        await stream.outbound.finish()
        return
      }
      let inbound = RPCAsyncSequence(wrapping: Replayed(first: first, rest: IteratorBox(parts)))
      await streamHandler(
        RPCStream(descriptor: stream.descriptor, inbound: inbound, outbound: stream.outbound),
        context
      )
    }
  }

  /// Why the metadata cannot be handled; nil when it can.
  static func problem(in metadata: Metadata) -> String? {
    for value in metadata[stringValues: GRPCTimeout.key] where GRPCTimeout.parse(value) == nil {
      return "grpc-timeout '\(value.prefix(16))' is not 1 to 8 digits and a unit (H, M, S, m, u, n)"
    }
    return nil
  }
}

/// The parts of a stream after one was read to look at: that one first, then the rest.
private struct Replayed<Part: Sendable>: AsyncSequence, Sendable {
  typealias Element = Part

  let first: Result<Part?, any Error>
  let rest: IteratorBox<Part>

  func makeAsyncIterator() -> Iterator {
    Iterator(first: first, rest: rest)
  }

  struct Iterator: AsyncIteratorProtocol {
    var first: Result<Part?, any Error>?
    let rest: IteratorBox<Part>

    mutating func next() async throws -> Part? {
      if let pending = first {
        first = nil
        return try pending.get()
      }
      return try await rest.next()
    }
  }
}

/// The transport's iterator, handed on to the one consumer of the stream.
// @unchecked: a stream has one consumer (grpc-swift's executor) and is iterated by it alone;
// the box only carries the iterator from this wrapper to that consumer.
private final class IteratorBox<Part: Sendable>: @unchecked Sendable {
  private var iterator: RPCAsyncSequence<Part, any Error>.AsyncIterator

  init(_ iterator: RPCAsyncSequence<Part, any Error>.AsyncIterator) {
    self.iterator = iterator
  }

  func next() async throws -> Part? {
    try await iterator.next()
  }
}
