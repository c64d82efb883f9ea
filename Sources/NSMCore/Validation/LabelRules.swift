/// What a label map may hold: at most ``Limits/maxLabels`` entries, keys of 1 to
/// ``Limits/maxLabelKeyBytes`` bytes and values of at most ``Limits/maxLabelValueBytes`` bytes,
/// neither containing control characters. Values may be empty (a selector's "must be absent").
public enum LabelRules {
  public static func validate(_ labels: [String: String], field: String) throws(NSMError) {
    if labels.count > Limits.maxLabels {
      throw .invalidArgument(
        "\(field) has \(labels.count) labels; the limit is \(Limits.maxLabels)"
      )
    }
    for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
      if key.isEmpty {
        throw .invalidArgument("\(field) has an empty label key")
      }
      if key.utf8.count > Limits.maxLabelKeyBytes {
        throw .invalidArgument(
          "\(field) key \(quoted(key)) is \(key.utf8.count) bytes; the limit is \(Limits.maxLabelKeyBytes)"
        )
      }
      if value.utf8.count > Limits.maxLabelValueBytes {
        throw .invalidArgument(
          "\(field)[\(key)] value is \(value.utf8.count) bytes; the limit is \(Limits.maxLabelValueBytes)"
        )
      }
      if key.unicodeScalars.contains(where: isControl) {
        throw .invalidArgument("\(field) key \(quoted(key)) contains a control character")
      }
      if value.unicodeScalars.contains(where: isControl) {
        throw .invalidArgument("\(field)[\(key)] value contains a control character")
      }
    }
  }

  static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.properties.generalCategory == .control
  }
}
