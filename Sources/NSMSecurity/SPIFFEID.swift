public import NSMCore

/// A SPIFFE ID, `spiffe://trust-domain/path`: the identity in an X.509-SVID's URI SAN and in
/// the `sub` and `aud` of path tokens.
public struct SPIFFEID: Hashable, Sendable, CustomStringConvertible, Comparable {
  public let trustDomain: String
  /// Starts with `/`, or is empty for the trust domain itself.
  public let path: String

  public init(parsing text: String) throws(NSMError) {
    let prefix = "spiffe://"
    guard text.lowercased().hasPrefix(prefix) else {
      throw .invalidArgument("'\(text)' is not a SPIFFE ID (spiffe://trust-domain/path)")
    }
    let rest = text.dropFirst(prefix.count)
    let slash = rest.firstIndex(of: "/") ?? rest.endIndex
    let domain = String(rest[..<slash])
    let path = String(rest[slash...])
    guard !domain.isEmpty,
      domain.unicodeScalars.allSatisfy({
        ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == "_"
      })
    else {
      throw .invalidArgument("'\(text)': the trust domain must be lower-case letters, digits, '.', '-' and '_'")
    }
    if !path.isEmpty {
      let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
      guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
        path.unicodeScalars.allSatisfy({ $0.isASCII && !$0.properties.isWhitespace && $0 != "?" && $0 != "#" })
      else {
        throw .invalidArgument("'\(text)' has an invalid path")
      }
    }
    self.trustDomain = domain
    self.path = path
  }

  public init(trustDomain: String, path: String) throws(NSMError) {
    try self.init(parsing: "spiffe://\(trustDomain)\(path.isEmpty || path.hasPrefix("/") ? path : "/" + path)")
  }

  public var description: String { "spiffe://\(trustDomain)\(path)" }

  public static func < (lhs: SPIFFEID, rhs: SPIFFEID) -> Bool { lhs.description < rhs.description }
}

extension SPIFFEID {
  /// Whether `workload` is a SPIFFE ID of this one's trust domain. A registry that forwards a
  /// call, or a gateway that brings a connection in, vouches only for such workloads: any
  /// other identity in path segment 0 it could have made up.
  public func vouches(for workload: String) -> Bool {
    (try? SPIFFEID(parsing: workload))?.trustDomain == trustDomain
  }
}
