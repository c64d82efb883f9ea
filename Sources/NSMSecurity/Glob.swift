/// A pattern where `*` matches any run of characters, `/` included, and everything else
/// matches itself: `spiffe://nsm.b/*`, `*.example.com`, `nse-*`.
public struct Glob: Hashable, Sendable, CustomStringConvertible {
  public let pattern: String

  public init(_ pattern: String) { self.pattern = pattern }

  public var description: String { pattern }

  public func matches(_ text: String) -> Bool {
    let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
    if parts.count == 1 { return text == pattern }
    var rest = Substring(text)
    guard rest.hasPrefix(parts[0]) else { return false }
    rest = rest.dropFirst(parts[0].count)
    for part in parts.dropFirst().dropLast() where !part.isEmpty {
      guard let range = rest.range(of: part) else { return false }
      rest = rest[range.upperBound...]
    }
    return rest.hasSuffix(parts[parts.count - 1]) && rest.count >= parts[parts.count - 1].count
  }
}
