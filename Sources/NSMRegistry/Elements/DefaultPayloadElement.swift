public import NSMAPI
public import NSMStore

/// A Network Service registered without a payload carries IP, as upstream's `setpayload`.
public struct DefaultPayloadElement: RegistryElement {
  public static let defaultPayload = "IP"

  public init() {}

  public func register(
    _ record: Registry_NetworkService,
    context: RegistryContext,
    next: RegistryNext<Registry_NetworkService>
  ) async throws -> Registry_NetworkService {
    var record = record
    if record.payload.isEmpty { record.payload = Self.defaultPayload }
    return try await next.register(record, context: context)
  }
}
