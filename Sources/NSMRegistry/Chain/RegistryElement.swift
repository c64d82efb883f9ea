public import Foundation
public import Logging
public import NSMStore

/// What travels with a registry call through the chain.
public struct RegistryContext: Sendable {
  public var logger: Logger
  /// The moment the call arrived; elements use it instead of reading the clock again, so one
  /// call sees one "now".
  public var now: Date
  /// How the call reached this registry: directly, or forwarded by another domain's registry.
  public var forwarding: ForwardingInfo
  /// When the caller stops waiting; calls this one makes to peers inherit it.
  public var deadline: ContinuousClock.Instant?
  /// Set when a watching caller asked to be told where the initial matches end (a forwarding
  /// registry does, to find what was deleted while it was away); the store calls it once,
  /// after the initial matches.
  public var snapshotComplete: (@Sendable () async throws -> Void)?
  /// What mTLS and the path established about the call; nil on a plaintext registry.
  public var authorization: CallAuthorization?
  /// Who the call is made for: the originating workload's SPIFFE ID on a secured registry, the
  /// client's host otherwise. Bounds what one caller can make this registry hold for it.
  public var caller: String
  /// The registrant check the store runs atomically with a write (``AuthorizeElement``).
  public var admit: RegistrantCheck?
  /// The request's size as it arrived on the wire, when it did: ``ValidateElement`` compares it
  /// with the record limit instead of encoding the message again, and clears it (elements
  /// after it may change the message).
  public var requestBytes: Int?

  public init(
    logger: Logger,
    now: Date = Date(),
    forwarding: ForwardingInfo = ForwardingInfo(),
    deadline: ContinuousClock.Instant? = nil,
    caller: String = ""
  ) {
    self.logger = logger
    self.now = now
    self.forwarding = forwarding
    self.deadline = deadline
    self.caller = caller
  }
}

/// A Find: a template whose empty fields are wildcards, and whether to keep streaming changes.
public struct FindRequest<Record: RegistryRecord>: Sendable {
  public var query: Record
  public var watch: Bool

  public init(query: Record, watch: Bool) {
    self.query = query
    self.watch = watch
  }
}

/// Receives what a Find produces, in order.
public typealias FindSink<Record: RegistryRecord> = @Sendable (RecordEvent<Record>) async throws -> Void

/// One step of a registry server, in the manner of NSM's SDK chains: it handles `register`,
/// `find` and `unregister`, usually by doing its one thing and passing on to `next`.
///
/// Every verb has a pass-through default, so an element writes only the verbs it changes.
public protocol RegistryElement<Record>: Sendable {
  associatedtype Record: RegistryRecord

  func register(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws -> Record

  func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>,
    next: RegistryNext<Record>
  ) async throws

  func unregister(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws
}

extension RegistryElement {
  public func register(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws -> Record {
    try await next.register(record, context: context)
  }

  public func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>,
    next: RegistryNext<Record>
  ) async throws {
    try await next.find(request, context: context, sink: sink)
  }

  public func unregister(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws {
    try await next.unregister(record, context: context)
  }
}
