public import Foundation
public import NSMCore
public import SwiftProtobuf

/// What the registry stores: a Network Service or a Network Service Endpoint.
///
/// Both registries share one chain, one store and one service implementation; this protocol
/// holds the few places where the two messages differ.
public protocol RegistryRecord: DomainScoped, SwiftProtobuf.Message, Sendable, Equatable {
  /// The Find response message that carries this record.
  associatedtype Response: RegistryResponse<Self>

  var name: String { get }

  /// The SPIFFE IDs of the hops of the record's registration, origin first.
  var pathIds: [String] { get set }

  /// When the registration lapses; nil when it never does.
  var expiration: Date? { get }

  /// Upstream's Find semantics, with `query` as a template whose empty fields are wildcards.
  func matches(query: Self) -> Bool

  /// What a refresh keeps from the record it replaces (an endpoint's first registration time).
  func carryingOver(from existing: Self) -> Self

  /// Checks a record a client asks to register; `encodedSize`: its size on the wire, when it
  /// came over one.
  static func validateForRegister(_ record: Self, now: Date, encodedSize: Int?) throws(NSMError)
}

extension RegistryRecord {
  /// The first hop of the path that registered the record (its registrant's SPIFFE ID once
  /// mTLS is on); "" when the request carries none.
  public var registrant: String { pathIds.first ?? "" }

  /// The record with `path_ids` set.
  public func withPathIDs(_ ids: [String]) -> Self {
    var record = self
    record.pathIds = ids
    return record
  }

  /// A refresh replaces the whole record unless a kind says otherwise.
  public func carryingOver(from existing: Self) -> Self { self }

  /// Checks a Find template; `encodedSize`: the query's size on the wire, when it came over one.
  public static func validateQuery(_ query: Self, encodedSize: Int? = nil) throws(NSMError) {
    try RecordValidation.validateQuery(query, name: query.name, kind: kind, encodedSize: encodedSize)
  }

  /// The Find response that carries this record.
  public func response(deleted: Bool) -> Response {
    var response = Response()
    response.record = self
    response.deleted = deleted
    return response
  }

  /// The name with the record's kind, for messages: `network service endpoint 'nse-1'`.
  public var label: String { "\(Self.kind) '\(name)'" }
}
