/// The part of Go's text/template that NSM selectors use: `{{ .label }}` (any spacing) replaced
/// by that label of the request, so `nodeName: "{{ .nodeName }}"` selects the client's node.
///
/// As upstream (reference §3.3): a label the request does not carry renders as `<no value>`
/// (Go's default for a missing map key), and text that is not a template we understand is
/// compared as written, the way Go falls back to the raw string on a parse error.
public enum LabelTemplate {
  public static let missingValue = "<no value>"

  /// `text` with every `{{ .key }}` replaced from `labels`; nil when `text` holds no action or
  /// an action we cannot evaluate (the caller then compares the raw text).
  public static func render(_ text: String, labels: [String: String]) -> String? {
    guard let parts = parts(of: text) else { return nil }
    return parts.map { part in
      switch part {
      case .literal(let literal): String(literal)
      case .label(let key): labels[key] ?? missingValue
      }
    }.joined()
  }

  /// The labels `text` refers to, in order; nil when it is not a template we evaluate.
  public static func keys(in text: String) -> [String]? {
    parts(of: text)?.compactMap { if case .label(let key) = $0 { key } else { nil } }
  }

  private enum Part {
    case literal(Substring)
    case label(String)
  }

  private static func parts(of text: String) -> [Part]? {
    guard text.contains("{{") else { return nil }
    var parts: [Part] = []
    var rest = Substring(text)
    while let open = rest.range(of: "{{") {
      parts.append(.literal(rest[..<open.lowerBound]))
      guard let close = rest[open.upperBound...].range(of: "}}") else { return nil }
      var action = rest[open.upperBound..<close.lowerBound]
      // Go's trim markers `{{- ` and ` -}}` trim the surrounding spaces; inside selectors they
      // change nothing we compare, so accept them.
      if action.hasPrefix("- ") { action = action.dropFirst(2) }
      if action.hasSuffix(" -") { action = action.dropLast(2) }
      let field = action.trimmingASCIISpaces()
      guard field.hasPrefix("."), field.count > 1 else { return nil }
      let key = field.dropFirst()
      guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
      parts.append(.label(String(key)))
      rest = rest[close.upperBound...]
    }
    parts.append(.literal(rest))
    return parts
  }
}

extension Substring {
  func trimmingASCIISpaces() -> Substring {
    var result = self
    while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
    while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
    return result
  }
}
