import NSMCore
import Testing

/// Requires `body` to throw an ``NSMError`` with code INVALID_ARGUMENT and returns it, so a test can
/// go on to check the message.
@discardableResult
func requireInvalidArgument(
  _ comment: Comment? = nil,
  sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws(NSMError) -> Void
) throws -> NSMError {
  let error = try #require(throws: NSMError.self, comment, sourceLocation: sourceLocation) {
    try body()
  }
  #expect(error.code == .invalidArgument, "\(error)", sourceLocation: sourceLocation)
  return error
}

/// Expects `message` to contain every one of `fragments`.
func expectMessage(
  _ error: NSMError,
  contains fragments: String...,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  for fragment in fragments {
    #expect(
      error.message.contains(fragment),
      "message \"\(error.message)\" should mention \"\(fragment)\"",
      sourceLocation: sourceLocation
    )
  }
}

/// A string of exactly `bytes` UTF-8 bytes made of `unit` repeated (`unit` must divide evenly).
func string(ofBytes bytes: Int, repeating unit: String = "a") -> String {
  precondition(bytes % unit.utf8.count == 0, "\(bytes) is not a multiple of \(unit.utf8.count)")
  return String(repeating: unit, count: bytes / unit.utf8.count)
}
