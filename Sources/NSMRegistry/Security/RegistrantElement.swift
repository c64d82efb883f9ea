public import NSMStore
internal import NSMSecurity

/// On a secured registry: records who registered (the path's SPIFFE IDs, origin first, in
/// `path_ids`) and lets only that identity refresh or unregister the name
/// (`registry_client_allowed`). The registrant comes from the store, so the rule holds across
/// restarts and replicas of a durable store.
public struct RegistrantElement<Store: RecordStore>: RegistryElement {
  public typealias Record = Store.Record
  public let store: Store
  let denials: DenialCounter

  init(store: Store, denials: DenialCounter) {
    self.store = store
    self.denials = denials
  }

  public func register(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws -> Record {
    guard let authorization = context.authorization else { return try await next.register(record, context: context) }
    try await check(record.name, .register, authorization, context: context)
    return try await next.register(record.withPathIDs(authorization.pathIDs), context: context)
  }

  public func unregister(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws {
    if let authorization = context.authorization {
      try await check(record.name, .unregister, authorization, context: context)
    }
    try await next.unregister(record, context: context)
  }

  private func check(
    _ name: String,
    _ operation: RegistryOperation,
    _ authorization: CallAuthorization,
    context: RegistryContext
  ) async throws {
    let registrant = try await store.registrant(of: name)
    do {
      try PathPolicies.checkRegistrant(
        requester: authorization.originator,
        registrant: registrant,
        name: name,
        operation: operation
      )
    } catch {
      throw denials.deny(error, logger: context.logger)
    }
  }
}
