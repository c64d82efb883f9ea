public import Foundation
public import NSMAPI
public import NSMCore

extension Registry_NetworkService: RegistryRecord {
  public typealias Response = Registry_NetworkServiceResponse

  /// Network Services are not leases: they live until unregistered, as upstream.
  public var expiration: Date? { nil }

  public static func validateForRegister(_ record: Self, now: Date, encodedSize: Int?) throws(NSMError) {
    try RecordValidation.validate(record, encodedSize: encodedSize)
  }
}

extension Registry_NetworkServiceResponse: RegistryResponse {
  public var record: Registry_NetworkService {
    get { networkService }
    set { networkService = newValue }
  }
  public var hasRecord: Bool { hasNetworkService }
}
