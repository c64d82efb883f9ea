/// What a Network Service or Endpoint name may be.
///
/// - 1 to ``Limits/maxNameBytes`` UTF-8 bytes;
/// - no whitespace, control or format characters, and none of ``forbiddenCharacters``;
/// - at most one `@`; when present, a non-empty local part before it and a valid
///   ``DomainName`` after it.
///
/// Unicode letters are allowed: names are opaque keys to the registry and are stored and
/// returned byte for byte.
public enum NameRules {
  /// Characters that would make a name ambiguous in URLs, selectors or shell use.
  public static let forbiddenCharacters: Set<Character> = ["/", "\\", "\"", "?", "#", "*", ","]

  /// Throws INVALID_ARGUMENT naming `field` unless `name` follows the rules.
  public static func validate(_ name: String, field: String) throws(NSMError) {
    if name.isEmpty {
      throw .invalidArgument("\(field) is empty")
    }
    if name.utf8.count > Limits.maxNameBytes {
      throw .invalidArgument(
        "\(field) is \(name.utf8.count) bytes long; the limit is \(Limits.maxNameBytes)"
      )
    }
    if let bad = name.unicodeScalars.first(where: { isForbidden($0) }) {
      throw .invalidArgument("\(field) \(quoted(name)) contains the character \(describe(bad))")
    }
    // Split on the scalar, not the Character: '@' followed by a combining mark is one
    // Character in Swift but still an '@' to every other implementation.
    let parts = name.unicodeScalars.split(separator: "@", omittingEmptySubsequences: false)
    if parts.count > 2 {
      throw .invalidArgument("\(field) \(quoted(name)) contains more than one '@'")
    }
    if parts.count == 2 {
      if parts[0].isEmpty {
        throw .invalidArgument("\(field) \(quoted(name)) has nothing before '@'")
      }
      do {
        try DomainName.validate(String(String.UnicodeScalarView(parts[1])))
      } catch {
        throw .invalidArgument("\(field) \(quoted(name)): \(error.message)")
      }
    }
  }

  static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
    if scalar.properties.isWhitespace { return true }
    switch scalar.properties.generalCategory {
    case .control, .format, .unassigned, .privateUse, .surrogate, .lineSeparator,
      .paragraphSeparator:
      return true
    default:
      return forbiddenCharacters.contains(Character(scalar))
    }
  }

  static func describe(_ scalar: Unicode.Scalar) -> String {
    let hex = String(scalar.value, radix: 16, uppercase: true)
    let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
      return code
    }
    return "'\(scalar)' (\(code))"
  }
}

func quoted(_ value: String) -> String {
  let shown = value.utf8.count > 80 ? String(value.prefix(77)) + "..." : value
  return "'\(shown)'"
}
