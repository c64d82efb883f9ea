public import GRPCCore
public import NSMCore

/// What a forwarding registry tells the registry it calls, in gRPC metadata. A Go NSM registry
/// sends none of it, and its calls are then for the receiving registry's own domain.
public struct ForwardingInfo: Sendable, Equatable {
  /// Registries the call has already passed through.
  public var hops = 0
  /// The domain the call is for, when a registry hosting several (floating) domains must tell
  /// them apart: the names arrive with `@domain` stripped.
  public var domain: String?
  /// The caller wants a marker after a watch's initial matches.
  public var wantsSnapshotMarker = false
  /// A Find, by this domain's gateway, of the registrations this domain's workloads made into
  /// another domain: answered here from what this registry kept of them, never forwarded.
  public var origins = false

  public init(hops: Int = 0, domain: String? = nil, wantsSnapshotMarker: Bool = false, origins: Bool = false) {
    self.hops = hops
    self.domain = domain
    self.wantsSnapshotMarker = wantsSnapshotMarker
    self.origins = origins
  }

  static let hopsKey = "nsm-registry-hops"
  static let domainKey = "nsm-registry-domain"
  static let snapshotMarkerKey = "nsm-registry-snapshot-marker"
  public static let originsKey = "nsm-registry-origins"

  /// Reads the forwarding fields of a request; malformed values are INVALID_ARGUMENT.
  public init(metadata: Metadata) throws(NSMError) {
    if let text = metadata[stringValues: Self.hopsKey].first(where: { _ in true }) {
      guard DomainName.isDecimal(text), let hops = Int(text), hops < 1000 else {
        throw .invalidArgument("metadata \(Self.hopsKey) '\(text)' is not a small decimal number")
      }
      self.hops = hops
    }
    if let domain = metadata[stringValues: Self.domainKey].first(where: { _ in true }) {
      try DomainName.validate(domain)
      self.domain = domain
    }
    wantsSnapshotMarker = metadata[stringValues: Self.snapshotMarkerKey].first(where: { _ in true }) == "1"
    origins = metadata[stringValues: Self.originsKey].first(where: { _ in true }) == "1"
  }

  public var metadata: Metadata {
    var metadata: Metadata = [Self.hopsKey: "\(hops)"]
    if let domain { metadata.addString(domain, forKey: Self.domainKey) }
    if wantsSnapshotMarker { metadata.addString("1", forKey: Self.snapshotMarkerKey) }
    if origins { metadata.addString("1", forKey: Self.originsKey) }
    return metadata
  }
}
