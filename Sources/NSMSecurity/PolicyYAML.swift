internal import NSMCore

/// Reading the policy file's YAML: lists of strings, and of SPIFFE ID globs.
enum PolicyYAML {
  static func strings(_ value: Any?, at place: String) throws(NSMError) -> [String] {
    guard let value else { return [] }
    if let text = value as? String { return [text] }
    guard let list = value as? [Any] else { throw .invalidArgument("\(place) must be a list of strings") }
    return try list.map { item throws(NSMError) in
      guard let text = item as? String else { throw .invalidArgument("\(place) must be a list of strings") }
      return text
    }
  }

  /// Globs on the SPIFFE IDs of `peers` (registries, gateways): a trust domain alone, a common
  /// slip, is refused with `example`.
  static func spiffeGlobs(_ value: Any?, at place: String, of peers: String, example: String) throws(NSMError)
    -> [Glob]
  {
    try strings(value, at: place).map { text throws(NSMError) in
      guard text.hasPrefix("spiffe://") else {
        throw .invalidArgument("\(place) lists SPIFFE IDs of \(peers) (globs), e.g. \(example), not '\(text)'")
      }
      return Glob(text)
    }
  }
}
