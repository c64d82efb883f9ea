import GRPCCore
import NSMAPI
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// Expects `operation` to fail with the gRPC status `code`; returns the server's message.
@discardableResult
func expectStatus(
  _ code: RPCError.Code,
  sourceLocation: SourceLocation = #_sourceLocation,
  _ operation: () async throws -> Void
) async -> String {
  do {
    try await operation()
    Issue.record("expected \(code), but the call succeeded", sourceLocation: sourceLocation)
    return ""
  } catch let error as RPCError {
    #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
    return error.message
  } catch {
    Issue.record("expected RPCError \(code), got \(error)", sourceLocation: sourceLocation)
    return ""
  }
}

extension WatchIterator {
  /// The next response; fails the test when the stream ends instead.
  mutating func expectNext(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Element {
    try #require(try await next(), "the watch ended early", sourceLocation: sourceLocation)
  }
}
