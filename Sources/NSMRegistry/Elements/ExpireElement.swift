public import NSMStore
public import NSMAPI
internal import NSMCore
internal import SwiftProtobuf

/// Bounds an endpoint's lease: its expiration becomes the earlier of the one it asked for and
/// now + the registry's expire period. The store removes it when that passes.
public struct ExpireElement: RegistryElement {
  public let period: Duration

  public init(period: Duration) {
    self.period = period
  }

  public func register(
    _ record: Registry_NetworkServiceEndpoint,
    context: RegistryContext,
    next: RegistryNext<Registry_NetworkServiceEndpoint>
  ) async throws -> Registry_NetworkServiceEndpoint {
    var record = record
    if let expiration = Lease.expiration(requested: record.expiration, now: context.now, period: period) {
      record.expirationTime = Google_Protobuf_Timestamp(date: expiration)
    }
    return try await next.register(record, context: context)
  }
}
