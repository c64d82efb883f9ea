/// The part after `@` in `name@domain`: a DNS name, or a literal `host:port` / `[v6]:port`
/// that skips DNS.
public enum DomainName {
  /// Throws INVALID_ARGUMENT unless `domain` is a DNS name (labels of letters, digits, `-` and
  /// `_`, each 1 to 63 bytes, 253 in all, an optional trailing dot) or a `host:port` literal.
  public static func validate(_ domain: String) throws(NSMError) {
    if domain.isEmpty {
      throw .invalidArgument("the domain after '@' is empty")
    }
    if let (host, port) = splitHostPort(domain) {
      guard isDecimal(port), let portNumber = Int(port), (1...65535).contains(portNumber) else {
        throw .invalidArgument("domain '\(domain)' has an invalid port '\(port)'")
      }
      if host.hasPrefix("[") {
        let inner = host.dropFirst().dropLast()
        guard host.hasSuffix("]"), !inner.isEmpty,
          inner.contains(":"),
          inner.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isASCIIHexDigit || $0 == ":" || $0 == ".") })
        else {
          throw .invalidArgument("domain '\(domain)' has an invalid IPv6 literal")
        }
        return
      }
      try validateDNSName(host, whole: domain)
      return
    }
    try validateDNSName(domain, whole: domain)
  }

  /// Splits `host:port` or `[v6]:port`; nil when there is no port.
  /// One spelling of a DNS name: lower case, no trailing dot.
  public static func canonical(_ domain: String) -> String {
    (domain.hasSuffix(".") ? String(domain.dropLast()) : domain).lowercased()
  }

  public static func splitHostPort(_ value: String) -> (host: String, port: String)? {
    if value.hasPrefix("[") {
      guard let close = value.firstIndex(of: "]") else { return nil }
      let rest = value[value.index(after: close)...]
      guard rest.hasPrefix(":") else { return nil }
      return (String(value[...close]), String(rest.dropFirst()))
    }
    guard let colon = value.lastIndex(of: ":"), value.firstIndex(of: ":") == colon else {
      return nil
    }
    return (String(value[..<colon]), String(value[value.index(after: colon)...]))
  }

  /// Only ASCII digits: `Int("+80")` would accept a sign, making two spellings of one port.
  public static func isDecimal(_ text: String) -> Bool {
    !text.isEmpty && text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) }
  }

  static func validateDNSName(_ name: String, whole: String) throws(NSMError) {
    let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
    if trimmed.isEmpty || trimmed.utf8.count > 253 {
      throw .invalidArgument("domain '\(whole)' is not a valid DNS name (1 to 253 bytes)")
    }
    for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
      if label.isEmpty || label.utf8.count > 63 {
        throw .invalidArgument(
          "domain '\(whole)' is not a valid DNS name (each label must be 1 to 63 bytes)"
        )
      }
      let valid = label.unicodeScalars.allSatisfy {
        ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
          || $0 == "-" || $0 == "_"
      }
      if !valid || label.hasPrefix("-") || label.hasSuffix("-") {
        throw .invalidArgument(
          "domain '\(whole)' is not a valid DNS name (label '\(label)' may hold only letters, digits, '-' and '_', and not start or end with '-')"
        )
      }
    }
  }
}
