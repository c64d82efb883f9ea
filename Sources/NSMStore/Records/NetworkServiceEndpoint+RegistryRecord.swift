public import Foundation
public import NSMAPI
public import NSMCore
internal import SwiftProtobuf

extension Registry_NetworkServiceEndpoint: RegistryRecord {
  public typealias Response = Registry_NetworkServiceEndpointResponse

  public static var kind: String { "network service endpoint" }

  public var registrant: String { pathIds.first ?? "" }

  public func withPathIDs(_ ids: [String]) -> Self {
    var record = self
    record.pathIds = ids
    return record
  }

  public var expiration: Date? { hasExpirationTime ? expirationTime.date : nil }

  /// A refresh keeps the time of the first registration.
  public func carryingOver(from existing: Registry_NetworkServiceEndpoint) -> Registry_NetworkServiceEndpoint {
    guard existing.hasInitialRegistrationTime else { return self }
    var refreshed = self
    refreshed.initialRegistrationTime = existing.initialRegistrationTime
    return refreshed
  }

  public static func validateForRegister(_ record: Self, now: Date) throws(NSMError) {
    try RecordValidation.validate(record, now: now)
  }

  public static func validateQuery(_ query: Self) throws(NSMError) {
    try RecordValidation.validateQuery(query, name: query.name, kind: kind)
  }

  public func response(deleted: Bool) -> Registry_NetworkServiceEndpointResponse {
    .with {
      $0.networkServiceEndpoint = self
      $0.deleted = deleted
    }
  }
}
