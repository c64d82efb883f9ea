public import NSMCore
internal import NSMStore

/// Sends each call where its names say it belongs (reference §2.2, DESIGN.md): records of a
/// domain this registry serves go on down the chain, with the domain suffix stripped going in
/// and restored coming out when the caller wrote it; records of any other domain are forwarded
/// to that domain's registry with `@domain` stripped, and come back with it appended.
///
/// Records of a hosted floating domain are stored with `@domain` on every name, so one store
/// keeps several domains apart; the primary domain's records are stored plain. Policy is not
/// this element's business: ``AuthorizeElement`` runs before it.
public struct FederationElement<Record: FederatedRecord>: RegistryElement {
  public let served: ServedDomains
  public let configuration: FederationConfiguration
  let forwarder: RegistryForwarder?

  public init(served: ServedDomains, configuration: FederationConfiguration, forwarder: RegistryForwarder?) {
    self.served = served
    self.configuration = configuration
    self.forwarder = forwarder
  }

  public func register(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws -> Record {
    switch try FederationRoute.resolve(record, served: served, forwarding: context.forwarding) {
    case .local(let domain, let suffixed):
      var outgoing = record
      if !served.isPrimary(domain) && context.forwarding.hops == 0 {
        // A workload of this domain registering into a floating domain hosted here: stored as
        // if forwarded, reached through this domain's gateway and carrying its cluster labels.
        outgoing = record.leavingHome(
          publicURL: Record.reachedThroughGateway ? await homeGatewayURL(context: context) : nil,
          clusterLabels: configuration.clusterLabels
        )
      }
      let stored = try await next.register(storageForm(outgoing, domain), context: context)
      let answer = Self.callerForm(stored, domain, suffixed: suffixed)
      return outgoing == record ? answer : answer.returningHome(from: record)
    case .foreign(let domain):
      let forwarder = try forwarder(for: domain)
      let outgoing = record.stripped(domain: domain).leavingHome(
        publicURL: Record.reachedThroughGateway ? await homeGatewayURL(context: context) : nil,
        clusterLabels: configuration.clusterLabels
      )
      let answer = try await forwarder.call("\(Record.kind) register", domain: domain, context: context) { attempt in
        let (stored, answer) = try await Record.register(
          outgoing,
          on: attempt.connection.grpc,
          options: attempt.options,
          metadata: attempt.metadata
        )
        try await attempt.verify(answer)
        return stored
      }
      if Record.reachedThroughGateway {
        // D now names this domain's gateway for the endpoint; the gateway reads here which
        // manager it is behind (an `origins` Find), as upstream's nsmgr-proxy keeps in memory.
        try await keepOrigin(record, domain: domain, until: answer, context: context, next: next)
      }
      return answer.joined(domain: domain).returningHome(from: record)
    }
  }

  /// Keeps, under its name in `domain` (`nse@D`), what a workload of this domain registered into
  /// D, with its own URL and D's lease. Own-domain Finds never show such records (they carry
  /// `@`); the reaper removes them when the lease ends unrefreshed.
  private func keepOrigin(
    _ record: Record,
    domain: String,
    until answer: Record,
    context: RegistryContext,
    next: RegistryNext<Record>
  ) async throws {
    let key = DomainName.canonical(domain)
    var origin = record.stripped(domain: domain).joined(domain: key).withLease(of: answer)
    if let authorization = context.authorization { origin = origin.withPathIDs(authorization.pathIDs) }
    _ = try await next.register(origin, context: context)
  }

  public func unregister(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws {
    switch try FederationRoute.resolve(record, served: served, forwarding: context.forwarding) {
    case .local(let domain, _):
      try await next.unregister(storageForm(record, domain), context: context)
    case .foreign(let domain):
      let outgoing = record.stripped(domain: domain)
      try await forwarder(for: domain).call("\(Record.kind) unregister", domain: domain, context: context) { attempt in
        try await attempt.verify(
          try await Record.unregister(
            outgoing,
            on: attempt.connection.grpc,
            options: attempt.options,
            metadata: attempt.metadata
          )
        )
      }
      if Record.reachedThroughGateway {
        try await next.unregister(outgoing.joined(domain: DomainName.canonical(domain)), context: context)
      }
    }
  }

  public func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>,
    next: RegistryNext<Record>
  ) async throws {
    switch try FederationRoute.resolve(request.query, served: served, forwarding: context.forwarding) {
    case .local(let domain, let suffixed):
      let local = FindRequest(query: storageForm(request.query, domain), watch: request.watch)
      let belongs = belongsTo(domain)
      try await next.find(local, context: context) { event in
        guard belongs(event.record) else { return }
        let record = Self.callerForm(event.record, domain, suffixed: suffixed)
        try await sink(RecordEvent(record: record, deleted: event.deleted))
      }
    case .foreign(let domain) where context.forwarding.origins:
      let query = request.query.stripped(domain: domain).joined(domain: DomainName.canonical(domain))
      let local = FindRequest(query: query, watch: request.watch)
      let belongs = belongsTo(domain)
      try await next.find(local, context: context) { event in
        guard belongs(event.record) else { return }
        try await sink(event)
      }
    case .foreign(let domain):
      let forwarder = try forwarder(for: domain)
      let query = request.query.stripped(domain: domain)
      if request.watch {
        try await ForwardedWatch(forwarder: forwarder, domain: domain, query: query, context: context, sink: sink).run()
        return
      }
      let found = try await forwarder.call("\(Record.kind) find", domain: domain, context: context) { attempt in
        try await Record.find(
          query,
          watch: false,
          on: attempt.connection.grpc,
          options: attempt.options,
          metadata: attempt.metadata
        ) { answer, responses in
          try await attempt.verify(answer)
          var found: [RecordEvent<Record>] = []
          for try await response in responses {
            if let event = Record.event(from: response) { found.append(event) }
          }
          return found
        }
      }
      // After the registry answered, so a missing registry is the error reported. A gateway
      // lookup that cannot be answered fails the Find: D's internal URLs would be unreachable.
      let gateway =
        Record.reachedThroughGateway && !found.isEmpty ? try await forwarder.directory.gatewayURL(of: domain) : nil
      for event in found {
        let record = event.record.joined(domain: domain).arriving(gatewayURL: gateway)
        try await sink(RecordEvent(record: record, deleted: event.deleted))
      }
    }
  }

  private func forwarder(for domain: String) throws(NSMError) -> RegistryForwarder {
    guard let forwarder else {
      throw NSMError(
        .failedPrecondition,
        "domain '\(domain)' is not served here and this registry has no DNS to find its registry"
      )
    }
    return forwarder
  }

  /// Where other domains reach this domain's endpoints: `--public-url`, else the gateway this
  /// domain publishes. Without either the endpoint's own URL goes out, with a warning.
  private func homeGatewayURL(context: RegistryContext) async -> String? {
    if let url = configuration.publicURL { return url }
    do {
      if let url = try await forwarder?.directory.gatewayURL(of: served.primary) { return url }
      context.logger.warning(
        "domain '\(served.primary)' publishes no gateway and --public-url is not set: endpoints registered into other domains keep their own URL"
      )
    } catch {
      context.logger.warning("cannot look up the gateway of '\(served.primary)': \(error.message)")
    }
    return nil
  }

  // MARK: Forms of a record

  /// Primary-domain records plain; floating-domain records with `@domain` in the configured
  /// spelling, whatever case or trailing dot the caller wrote, so one name is one record.
  private func storageForm(_ record: Record, _ domain: String) -> Record {
    let plain = record.stripped(domain: domain)
    return served.isPrimary(domain) ? plain : plain.joined(domain: domain)
  }

  /// What the caller sees: `@domain` on every name when it wrote it, plain names otherwise.
  private static func callerForm(_ record: Record, _ domain: String, suffixed: Bool) -> Record {
    let plain = record.stripped(domain: domain)
    return suffixed ? plain.joined(domain: domain) : plain
  }

  /// Whether a stored record is one of `domain`'s (a query may match several domains' records).
  private func belongsTo(_ domain: String) -> @Sendable (Record) -> Bool {
    if served.isPrimary(domain) {
      return { ScopedName($0.name).domain == nil }
    }
    return { ScopedName($0.name).isIn(domain) }
  }
}
