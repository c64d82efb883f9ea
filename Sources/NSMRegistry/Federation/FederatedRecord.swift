public import GRPCCore
internal import NSMCore
public import NSMStore
public import SwiftProtobuf

/// A record a registry serves on the wire and forwards to other domains' registries: its gRPC
/// methods, its Find query and response messages, and what changes when it leaves its home
/// domain.
public protocol FederatedRecord: RegistryRecord {
  /// The Find request message (a template and `watch`).
  associatedtype Query: RegistryQuery<Self>

  /// This kind's registry service; its methods are Register, Find and Unregister.
  static var service: ServiceDescriptor { get }

  /// Whether found records are reached through their domain's proxy gateway (endpoints are,
  /// services are not).
  static var reachedThroughGateway: Bool { get }

  /// What a registration carries into another domain's registry: an endpoint is reached there
  /// through this domain's gateway (`publicURL`) and carries this domain's cluster labels.
  func leavingHome(publicURL: String?, clusterLabels: [String: String]) -> Self
  /// The registrant's view of what the other domain stored: its own URL, not the gateway's.
  func returningHome(from original: Self) -> Self
  /// A record found in another domain, as callers here see it: an endpoint is reached through
  /// that domain's gateway when it publishes one.
  func arriving(gatewayURL: String?) -> Self
  /// This record with the lease another domain's registry gave `answer`.
  func withLease(of answer: Self) -> Self
}

/// A Find request message: a template whose empty fields are wildcards, and whether to watch.
public protocol RegistryQuery<Record>: SwiftProtobuf.Message {
  associatedtype Record
  var template: Record { get set }
  var watch: Bool { get set }
}

/// The three methods of a registry service.
public struct RegistryMethods: Sendable {
  public var register: MethodDescriptor
  public var find: MethodDescriptor
  public var unregister: MethodDescriptor

  init(_ service: ServiceDescriptor) {
    register = MethodDescriptor(service: service, method: "Register")
    find = MethodDescriptor(service: service, method: "Find")
    unregister = MethodDescriptor(service: service, method: "Unregister")
  }
}

extension FederatedRecord {
  public static var reachedThroughGateway: Bool { false }
  public func leavingHome(publicURL: String?, clusterLabels: [String: String]) -> Self { self }
  public func returningHome(from original: Self) -> Self { self }
  public func arriving(gatewayURL: String?) -> Self { self }
  public func withLease(of answer: Self) -> Self { self }

  public static var methods: RegistryMethods { RegistryMethods(service) }

  /// The marker that ends a watch's initial matches: a response without a record.
  public static var snapshotMarker: Response { Response() }

  public static func query(_ template: Self, watch: Bool) -> Query {
    var query = Query()
    query.template = template
    query.watch = watch
    return query
  }

  public static func findRequest(_ query: Query) -> FindRequest<Self> {
    FindRequest(query: query.template, watch: query.watch)
  }

  /// The record a Find response carries and whether it was deleted; nil for the marker that
  /// ends a watch's initial matches (see ``ForwardingInfo``), a response without a record.
  public static func event(from response: Response) -> RecordEvent<Self>? {
    response.hasRecord && !response.record.name.isEmpty
      ? RecordEvent(record: response.record, deleted: response.deleted) : nil
  }

  public func stripped(domain: String) -> Self { DomainTranslation.stripped(self, domain: domain) }
  public func joined(domain: String) -> Self { DomainTranslation.joined(self, domain: domain) }
}
