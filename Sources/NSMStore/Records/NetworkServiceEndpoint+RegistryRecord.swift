public import Foundation
public import NSMAPI
public import NSMCore
internal import SwiftProtobuf

extension Registry_NetworkServiceEndpoint: RegistryRecord {
  public typealias Response = Registry_NetworkServiceEndpointResponse

  public var expiration: Date? { hasExpirationTime ? expirationTime.date : nil }

  /// A refresh keeps the time of the first registration.
  public func carryingOver(from existing: Registry_NetworkServiceEndpoint) -> Registry_NetworkServiceEndpoint {
    guard existing.hasInitialRegistrationTime else { return self }
    var refreshed = self
    refreshed.initialRegistrationTime = existing.initialRegistrationTime
    return refreshed
  }

  public static func validateForRegister(_ record: Self, now: Date, encodedSize: Int?) throws(NSMError) {
    try RecordValidation.validate(record, now: now, encodedSize: encodedSize)
  }

}

extension Registry_NetworkServiceEndpointResponse: RegistryResponse {
  public var record: Registry_NetworkServiceEndpoint {
    get { networkServiceEndpoint }
    set { networkServiceEndpoint = newValue }
  }
  public var hasRecord: Bool { hasNetworkServiceEndpoint }
}
