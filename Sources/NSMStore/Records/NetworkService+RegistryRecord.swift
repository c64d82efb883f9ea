public import Foundation
public import NSMAPI
public import NSMCore

extension Registry_NetworkService: RegistryRecord {
  /// Network Services are not leases: they live until unregistered, as upstream.
  public var expiration: Date? { nil }

  public static func validateForRegister(_ record: Self, now: Date) throws(NSMError) {
    try RecordValidation.validate(record)
  }

  public func response(deleted: Bool) -> Registry_NetworkServiceResponse {
    .with {
      $0.networkService = self
      $0.deleted = deleted
    }
  }
}
