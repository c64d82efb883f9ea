internal import ArgumentParser
internal import GRPCCore
internal import Logging
internal import NSMCore
internal import NSMRegistry
internal import NSMTransport

/// `--registry`, shared by the operator commands.
struct ClientOptions: ParsableArguments {
  @Option(
    help:
      "The registry to talk to: tcp://host:port, host:port or unix:///path (env NSM_REGISTRY_URL; default tcp://127.0.0.1:5002)."
  )
  var registry: String?

  @OptionGroup(title: "Identity") var tls: TLSOptions

  func address() throws -> ServiceAddress {
    let text = setting(registry, env: "NSM_REGISTRY_URL") ?? "tcp://127.0.0.1:5002"
    return try parseSetting(text, flag: "registry", env: "NSM_REGISTRY_URL") { try ServiceAddress(parsing: $0) }
  }

  /// Runs `body` with a connected client; a failed call prints the server's message and exits 1.
  func withClient<Result: Sendable>(_ body: (RegistryClient) async throws -> Result) async throws -> Result {
    let address = try address()
    var logger = Logger(label: "nsm")
    logger.logLevel = .error
    let identity = try tls.identity(logger: logger)
    let lifetime = try tls.tokenLifetime()
    do {
      guard let identity else { return try await RegistryClient.with(address: address, body) }
      return try await RegistryClient.with(address: address, identity: identity, maxTokenLifetime: lifetime, body)
    } catch let error as RPCError {
      printError("error: \(describe(error)) (registry \(address))")
      throw ExitCode.failure
    }
  }
}

/// The server's message with its status code as gRPC spells it (`INVALID_ARGUMENT`).
func describe(_ error: RPCError) -> String {
  "\(error.message) [\(statusName(error.code))]"
}

func statusName(_ code: RPCError.Code) -> String {
  let names: [(RPCError.Code, String)] = [
    (.cancelled, "CANCELLED"), (.unknown, "UNKNOWN"), (.invalidArgument, "INVALID_ARGUMENT"),
    (.deadlineExceeded, "DEADLINE_EXCEEDED"), (.notFound, "NOT_FOUND"), (.alreadyExists, "ALREADY_EXISTS"),
    (.permissionDenied, "PERMISSION_DENIED"), (.resourceExhausted, "RESOURCE_EXHAUSTED"),
    (.failedPrecondition, "FAILED_PRECONDITION"), (.aborted, "ABORTED"), (.outOfRange, "OUT_OF_RANGE"),
    (.unimplemented, "UNIMPLEMENTED"), (.internalError, "INTERNAL"), (.unavailable, "UNAVAILABLE"),
    (.dataLoss, "DATA_LOSS"), (.unauthenticated, "UNAUTHENTICATED"),
  ]
  return names.first { $0.0 == code }?.1 ?? "\(code)"
}

/// The kinds `get` and `delete` take, with kubectl-like short names.
enum ResourceKind: String, ExpressibleByArgument, CaseIterable {
  case ns, nse

  init?(argument: String) {
    switch argument.lowercased() {
    case "ns", "networkservice", "networkservices": self = .ns
    case "nse", "networkserviceendpoint", "networkserviceendpoints": self = .nse
    default: return nil
    }
  }

  var noun: String { self == .ns ? "networkservice" : "networkserviceendpoint" }
}
