public import Foundation
public import NSMCore

/// What the registry stores: a Network Service or a Network Service Endpoint.
///
/// Both registries share one chain, one store and one service implementation; this protocol
/// holds the few places where the two messages differ.
public protocol RegistryRecord: Sendable, Equatable {
  /// The Find response message that carries this record.
  associatedtype Response: Sendable

  /// "network service" or "network service endpoint", for messages and logs.
  static var kind: String { get }

  var name: String { get }

  /// The first hop of the path that registered the record (its registrant's SPIFFE ID once
  /// mTLS is on); "" when the request carries none.
  var registrant: String { get }

  /// The record with `path_ids` set: the SPIFFE IDs of the hops of its registration.
  func withPathIDs(_ ids: [String]) -> Self

  /// When the registration lapses; nil when it never does.
  var expiration: Date? { get }

  /// Upstream's Find semantics, with `query` as a template whose empty fields are wildcards.
  func matches(query: Self) -> Bool

  /// What a refresh keeps from the record it replaces (an endpoint's first registration time).
  func carryingOver(from existing: Self) -> Self

  /// Checks a record a client asks to register.
  static func validateForRegister(_ record: Self, now: Date) throws(NSMError)

  /// Checks a Find template.
  static func validateQuery(_ query: Self) throws(NSMError)

  func response(deleted: Bool) -> Response
}

extension RegistryRecord {
  /// The name with the record's kind, for messages: `network service endpoint 'nse-1'`.
  public var label: String { "\(Self.kind) '\(name)'" }
}
