public import NSMCore
internal import NSMSecurity
internal import NSMStore

/// Every policy check of a secured registry, in one element before federation (docs/security.md):
/// the domain policy's grants for calls this registry serves, its `forward_to` rules for calls
/// it forwards, the grants' name patterns on what a Find returns, and the registrant rule
/// (`registry_client_allowed`), which the store applies atomically with the write.
///
/// On a plaintext registry (no ``CallAuthorization``) it passes everything on.
public struct AuthorizeElement<Record: FederatedRecord>: RegistryElement {
  public let served: ServedDomains

  public init(served: ServedDomains) {
    self.served = served
  }

  public func register(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws -> Record {
    guard let authorization = context.authorization else { return try await next.register(record, context: context) }
    switch try FederationRoute.resolve(record, served: served, forwarding: context.forwarding) {
    case .local(let domain, _):
      try authorization.checkLocal(.register, name: record.stripped(domain: domain).name, domain: domain)
      var context = context
      context.admit = authorization.registrantCheck(.register, name: record.name)
      // Who registered: the path's SPIFFE IDs, origin first, stored as `path_ids`.
      return try await next.register(record.withPathIDs(authorization.pathIDs), context: context)
    case .foreign(let domain):
      try authorization.checkForward(.register, domain: domain)
      // For the origin kept here (FederationElement): only its registrant may replace it.
      var context = context
      context.admit = authorization.registrantCheck(.register, name: record.name)
      return try await next.register(record, context: context)
    }
  }

  public func unregister(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws {
    guard let authorization = context.authorization else { return try await next.unregister(record, context: context) }
    var context = context
    switch try FederationRoute.resolve(record, served: served, forwarding: context.forwarding) {
    case .local(let domain, _):
      try authorization.checkLocal(.unregister, name: record.stripped(domain: domain).name, domain: domain)
      context.admit = authorization.registrantCheck(.unregister, name: record.name)
    case .foreign(let domain):
      try authorization.checkForward(.unregister, domain: domain)
      context.admit = authorization.registrantCheck(.unregister, name: record.name)
    }
    try await next.unregister(record, context: context)
  }

  public func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>,
    next: RegistryNext<Record>
  ) async throws {
    guard let authorization = context.authorization else {
      return try await next.find(request, context: context, sink: sink)
    }
    switch try FederationRoute.resolve(request.query, served: served, forwarding: context.forwarding) {
    case .local(let domain, _):
      try authorization.checkLocal(.find, name: request.query.stripped(domain: domain).name, domain: domain)
      // A template without a name matches names the caller may not see: each result and
      // event is checked against the grants' name patterns.
      try await next.find(request, context: context) { event in
        guard authorization.mayFind(name: event.record.stripped(domain: domain).name, domain: domain) else { return }
        try await sink(event)
      }
    case .foreign(let domain):
      try authorization.checkForward(.find, domain: domain)
      try await next.find(request, context: context, sink: sink)
    }
  }
}

extension CallAuthorization {
  /// `registry_client_allowed` for a write of `name`: only its registrant may refresh or remove it.
  func registrantCheck(_ operation: RegistryOperation, name: String) -> RegistrantCheck {
    let (originator, denials, logger) = (self.originator, self.denials, self.logger)
    return { registrant in
      do throws(PolicyDenial) {
        try PathPolicies.checkRegistrant(
          requester: originator,
          registrant: registrant,
          name: name,
          operation: operation
        )
      } catch {
        throw denials.deny(error, logger: logger)
      }
    }
  }
}
