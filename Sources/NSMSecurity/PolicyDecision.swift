public import NSMCore

/// What a registry call asks to do.
public enum RegistryOperation: String, Sendable, CaseIterable, Codable {
  case find
  case register
  case unregister
}

/// A refusal by one named rule: PERMISSION_DENIED naming the rule and the identity.
public struct PolicyDenial: Error, Sendable, Equatable, CustomStringConvertible {
  public var rule: String
  public var identity: String
  public var reason: String

  public init(rule: String, identity: String, reason: String) {
    self.rule = rule
    self.identity = identity
    self.reason = reason
  }

  public var description: String {
    "policy \(rule) denies \(identity.isEmpty ? "an anonymous caller" : identity): \(reason)"
  }

  public var nsmError: NSMError { NSMError(.permissionDenied, description) }
}
