import GRPCCore
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import SwiftProtobuf
import Testing

/// The registry's endpoint Find, for the grpc-go probe.
let findMethod = "/registry.NetworkServiceEndpointRegistry/Find"

/// A Find (watch or not) for `name`, encoded for the grpc-go probe.
func findRequest(_ name: String, watch: Bool = false) throws -> String {
  try GRPCGoProbe.requestFile(
    try Registry_NetworkServiceEndpointQuery.with {
      $0.networkServiceEndpoint = Fixtures.endpoint(name, services: [], url: "")
      $0.watch = watch
    }.serializedBytes()
  )
}

/// The port of a tcp address.
func port(of address: ServiceAddress) throws -> Int {
  guard case .tcp(_, let port) = address else { throw NSMError(.internal, "not tcp: \(address)") }
  return port
}

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
  } catch let error as NSMError {
    // What a server would send: the same code.
    #expect(error.rpcErrorCode == code, "message: \(error.message)", sourceLocation: sourceLocation)
    return error.message
  } catch {
    Issue.record("expected RPCError \(code), got \(error)", sourceLocation: sourceLocation)
    return ""
  }
}
