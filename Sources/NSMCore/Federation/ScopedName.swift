/// `name@domain`, split as upstream NSM splits it: at the first `@` only (reference §1.1).
public struct ScopedName: Hashable, Sendable, CustomStringConvertible {
  /// The part before the first `@`: the name the domain's own registry knows.
  public var target: String
  /// The part after the first `@`; nil for a name without one.
  public var domain: String?

  public init(_ text: String) {
    // By scalar, as NameRules validates: '@' followed by a combining mark is still an '@'.
    if let at = text.unicodeScalars.firstIndex(of: "@") {
      target = String(text.unicodeScalars[..<at])
      domain = String(text.unicodeScalars[text.unicodeScalars.index(after: at)...])
    } else {
      target = text
      domain = nil
    }
  }

  public init(target: String, domain: String?) {
    self.target = target
    self.domain = domain
  }

  public var description: String { domain.map { "\(target)@\($0)" } ?? target }

  /// Whether `domain` names the same domain as this name's (DNS names compare without case and
  /// without a trailing dot).
  public func isIn(_ domain: String) -> Bool {
    guard let own = self.domain else { return false }
    return Self.sameDomain(own, domain)
  }

  public static func sameDomain(_ a: String, _ b: String) -> Bool {
    DomainName.canonical(a) == DomainName.canonical(b)
  }
}
