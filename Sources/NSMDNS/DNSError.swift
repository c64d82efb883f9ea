public import NSMCore

/// Why a domain's registry or gateway could not be resolved, naming the domain and the record.
public struct DNSError: Error, Hashable, Sendable, CustomStringConvertible {
  public enum Kind: String, Hashable, Sendable {
    case nxdomain = "no such name (NXDOMAIN)"
    case noRecords = "no records of that type (NODATA)"
    case serviceNotAvailable = "service not available (SRV target '.')"
    case targetWithoutAddress = "SRV target has no address"
    case timeout = "no answer within the deadline"
    case serverFailure = "server failure"
    case refused = "query refused"
    case malformed = "malformed answer"
  }

  public var kind: Kind
  public var domain: String
  /// The record name asked for (or the SRV target without addresses).
  public var name: String
  public var detail: String?

  public init(_ kind: Kind, domain: String, name: String, detail: String? = nil) {
    self.kind = kind
    self.domain = domain
    self.name = name
    self.detail = detail
  }

  public var description: String {
    "domain \(domain): \(name): \(kind.rawValue)" + (detail.map { " (\($0))" } ?? "")
  }

  /// The status a registry call returns: the domain does not publish the service (NOT_FOUND),
  /// or DNS cannot tell right now (UNAVAILABLE).
  public var nsmError: NSMError {
    switch kind {
    case .nxdomain, .noRecords, .serviceNotAvailable:
      NSMError(.notFound, description)
    case .targetWithoutAddress, .timeout, .serverFailure, .refused, .malformed:
      NSMError(.unavailable, description)
    }
  }
}
