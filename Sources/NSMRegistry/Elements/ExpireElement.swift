public import NSMAPI
internal import NSMCore
public import NSMStore
internal import SwiftProtobuf

/// Bounds an endpoint's lease: its expiration becomes the earliest of the one it asked for,
/// now + the registry's expire period and, on a secured registry, the expiry of the path's
/// tokens (reference §5.1: a registration lives no longer than the credentials that made it).
/// The store removes it when that passes.
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
    if let expiration = Lease.expiration(
      requested: record.expiration,
      now: context.now,
      period: period,
      cap: context.authorization?.tokenExpiry
    ) {
      record.expirationTime = Google_Protobuf_Timestamp(date: expiration)
    }
    return try await next.register(record, context: context)
  }
}
