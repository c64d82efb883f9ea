public import NSMAPI
public import NSMStore
internal import SwiftProtobuf

/// Stamps an endpoint's `initial_registration_time`. The store keeps the first stamp across
/// refreshes (``RegistryRecord/carryingOver(from:)``), so what a client sends is ignored.
public struct RegistrationTimeElement: RegistryElement {
  public init() {}

  public func register(
    _ record: Registry_NetworkServiceEndpoint,
    context: RegistryContext,
    next: RegistryNext<Registry_NetworkServiceEndpoint>
  ) async throws -> Registry_NetworkServiceEndpoint {
    var record = record
    record.initialRegistrationTime = Google_Protobuf_Timestamp(date: context.now)
    return try await next.register(record, context: context)
  }
}
