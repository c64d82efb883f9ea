internal import Foundation
internal import NSMCore
internal import PostgresNIO

/// Runs one store operation with a deadline and turns database failures into the status a
/// registry call returns: UNAVAILABLE when the database cannot be reached or does not answer in
/// time (so the caller retries), INTERNAL for anything else.
///
/// The operation runs in a task of its own so the deadline holds even when a connection attempt
/// does not react to cancellation. A write that misses its deadline may still commit later; the
/// caller was told UNAVAILABLE and its retry (an upsert) is harmless. When the calling task is
/// cancelled (its client went away) the operation is cancelled at once, not left to run until
/// the deadline.
func withStoreDeadline<T: Sendable>(
  _ deadline: Duration,
  operation: String,
  _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
  do {
    return try await Deadline.run(within: deadline, body)
  } catch let error as NSMError where error.code == .deadlineExceeded {
    throw NSMError.unavailable("the database did not answer within \(GoDuration.format(deadline)) (\(operation))")
  } catch {
    throw storeError(error, operation: operation)
  }
}

/// What a database error means to a registry client.
func storeError(_ error: any Error, operation: String) -> any Error {
  switch error {
  case let error as NSMError:
    return error
  case is CancellationError:
    return error
  case let error as PostgresTransactionError:
    // What failed inside the transaction is the answer (a refused registrant check, a corrupt
    // row); a failed BEGIN, COMMIT or ROLLBACK is the database's.
    if let inner = error.closureError ?? error.beginError ?? error.commitError {
      return storeError(inner, operation: operation)
    }
    return NSMError.unavailable("database unavailable during \(operation): the transaction failed")
  case let error as PSQLError:
    if error.code == .server, let state = error.serverInfo?[.sqlState] {
      // Class 08: connection exception; 57P: operator intervention (shutdown, crash recovery);
      // 53: insufficient resources; 40001/40P01: serialization failure, deadlock (retryable).
      if state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") || state == "40001"
        || state == "40P01"
      {
        return NSMError.unavailable("database unavailable during \(operation): \(error.serverInfo?[.message] ?? state)")
      }
      return NSMError(
        .internal,
        "database error during \(operation): \(error.serverInfo?[.message] ?? state) [\(state)]"
      )
    }
    return NSMError.unavailable("database unavailable during \(operation): \(error.code)")
  default:
    return NSMError.unavailable("database unavailable during \(operation): \(error)")
  }
}
