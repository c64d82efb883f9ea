/// An error a caller can cause or meet, with a code that maps one to one onto a gRPC status.
///
/// A struct wrapping a private enum, so adding a code later breaks no exhaustive `switch`.
public struct NSMError: Error, Hashable, Sendable, CustomStringConvertible {
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Value: String, Hashable, Sendable {
      case invalidArgument = "INVALID_ARGUMENT"
      case notFound = "NOT_FOUND"
      case alreadyExists = "ALREADY_EXISTS"
      case permissionDenied = "PERMISSION_DENIED"
      case resourceExhausted = "RESOURCE_EXHAUSTED"
      case unavailable = "UNAVAILABLE"
      case deadlineExceeded = "DEADLINE_EXCEEDED"
      case failedPrecondition = "FAILED_PRECONDITION"
      case `internal` = "INTERNAL"
      case dataLoss = "DATA_LOSS"
    }

    private let value: Value
    private init(_ value: Value) { self.value = value }

    public static let invalidArgument = Code(.invalidArgument)
    public static let notFound = Code(.notFound)
    public static let alreadyExists = Code(.alreadyExists)
    public static let permissionDenied = Code(.permissionDenied)
    public static let resourceExhausted = Code(.resourceExhausted)
    public static let unavailable = Code(.unavailable)
    public static let deadlineExceeded = Code(.deadlineExceeded)
    public static let failedPrecondition = Code(.failedPrecondition)
    public static let `internal` = Code(.internal)
    /// Stored data that can no longer be read: corruption, not a passing failure.
    public static let dataLoss = Code(.dataLoss)

    public var description: String { value.rawValue }
  }

  public var code: Code
  public var message: String

  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  public var description: String { "\(code): \(message)" }

  public static func invalidArgument(_ message: String) -> NSMError { NSMError(.invalidArgument, message) }
  public static func notFound(_ message: String) -> NSMError { NSMError(.notFound, message) }
  public static func resourceExhausted(_ message: String) -> NSMError {
    NSMError(.resourceExhausted, message)
  }
  public static func unavailable(_ message: String) -> NSMError { NSMError(.unavailable, message) }
}
