internal import Logging
internal import NSMCore
internal import NSMSecurity
internal import Synchronization

/// Policy denials counted per rule, each logged: what an operator looks at when a partner
/// says "permission denied".
public final class DenialCounter: Sendable {
  private let counts = Mutex<[String: Int]>([:])

  public init() {}

  public var byRule: [String: Int] { counts.withLock { $0 } }

  /// Counts and logs `denial`; returns the error to throw (PERMISSION_DENIED).
  func deny(_ denial: PolicyDenial, logger: Logger) -> NSMError {
    counts.withLock { $0[denial.rule, default: 0] += 1 }
    logger.warning(
      "denied",
      metadata: ["rule": "\(denial.rule)", "identity": "\(denial.identity)", "reason": "\(denial.reason)"]
    )
    return denial.nsmError
  }
}
