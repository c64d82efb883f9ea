public import Foundation
public import NSMAPI
public import NSMCore

extension Registry_NetworkService: RegistryRecord {
  public typealias Response = Registry_NetworkServiceResponse

  public static var kind: String { "network service" }

  /// Network Services are not leases: they live until unregistered, as upstream.
  public var registrant: String { pathIds.first ?? "" }

  public func withPathIDs(_ ids: [String]) -> Self {
    var record = self
    record.pathIds = ids
    return record
  }

  public var expiration: Date? { nil }

  public func carryingOver(from existing: Registry_NetworkService) -> Registry_NetworkService {
    self
  }

  public static func validateForRegister(_ record: Self, now: Date) throws(NSMError) {
    try RecordValidation.validate(record)
  }

  public static func validateQuery(_ query: Self) throws(NSMError) {
    try RecordValidation.validateQuery(query, name: query.name, kind: kind)
  }

  public func response(deleted: Bool) -> Registry_NetworkServiceResponse {
    .with {
      $0.networkService = self
      $0.deleted = deleted
    }
  }
}
