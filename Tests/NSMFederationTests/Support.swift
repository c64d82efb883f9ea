import GRPCCore
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// Runs the registry of test domain `name` on its published port, finding other domains
/// through the test nsd.
func withRegistry<Result: Sendable>(
  _ domains: TestDomains,
  _ name: String,
  floating: [String] = [],
  configure: (inout RegistryConfiguration) -> Void = { _ in },
  _ body: (TestRegistry) async throws -> Result
) async throws -> Result {
  try await TestRegistry.run {
    $0.domain = name
    $0.listen = .tcp(host: "127.0.0.1", port: domains[name].registryPort)
    $0.federation.directory = domains.resolver()
    $0.federation.floatingDomains = floating
    configure(&$0)
  } _: { registry in
    try await body(registry)
  }
}

/// The gRPC status code and message of what `operation` threw; fails the test when it threw
/// nothing.
func rpcFailure(
  _ operation: () async throws -> Void,
  sourceLocation: SourceLocation = #_sourceLocation
) async -> (code: RPCError.Code?, message: String) {
  do {
    try await operation()
    Issue.record("the call succeeded", sourceLocation: sourceLocation)
    return (nil, "")
  } catch let error as RPCError {
    return (error.code, error.message)
  } catch {
    Issue.record("not an RPCError: \(error)", sourceLocation: sourceLocation)
    return (nil, "\(error)")
  }
}

/// Reads watch responses until `done` holds for the names seen (deleted ones removed), and
/// returns the events read.
func readUntil<Response: Sendable>(
  _ iterator: inout WatchIterator<Response>,
  name: (Response) -> String,
  deleted: (Response) -> Bool,
  state: inout [String: Response],
  _ done: ([String: Response]) -> Bool
) async throws -> [Response] {
  var events: [Response] = []
  while !done(state) {
    guard let response = try await iterator.next() else {
      Issue.record("the watch ended early; state \(state.keys.sorted())")
      return events
    }
    events.append(response)
    if deleted(response) {
      state[name(response)] = nil
    } else {
      state[name(response)] = response
    }
  }
  return events
}
