public import GRPCCore
public import NSMCore

extension NSMError: RPCErrorConvertible {
  public var rpcErrorCode: RPCError.Code {
    switch code {
    case .invalidArgument: .invalidArgument
    case .notFound: .notFound
    case .alreadyExists: .alreadyExists
    case .permissionDenied: .permissionDenied
    case .resourceExhausted: .resourceExhausted
    case .unavailable: .unavailable
    case .deadlineExceeded: .deadlineExceeded
    case .failedPrecondition: .failedPrecondition
    case .dataLoss: .dataLoss
    default: .internalError
    }
  }

  public var rpcErrorMessage: String { message }
}

/// Runs `operation`, turning errors no element mapped into INTERNAL with their description,
/// so a client never sees gRPC's bare "unknown error".
public func mappingErrors<T>(_ operation: () async throws -> T) async throws -> T {
  do {
    return try await operation()
  } catch let error as NSMError {
    throw error
  } catch let error as RPCError {
    throw error
  } catch is CancellationError {
    throw RPCError(code: .cancelled, message: "the call was cancelled")
  } catch {
    throw RPCError(code: .internalError, message: "internal error: \(error)", cause: error)
  }
}
