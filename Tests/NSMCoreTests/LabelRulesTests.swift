import NSMCore
import Testing

@Suite("LabelRules")
struct LabelRulesTests {
  static let field = "network_service.matches[0].source_selector"

  static func labels(count: Int) -> [String: String] {
    Dictionary(uniqueKeysWithValues: (0..<count).map { ("key-\($0)", "value-\($0)") })
  }

  struct Case: Sendable, CustomTestStringConvertible {
    var label: String
    var labels: [String: String]
    var mentions: [String]

    init(_ label: String, _ labels: [String: String], mentions: String...) {
      self.label = label
      self.labels = labels
      self.mentions = mentions
    }

    var testDescription: String { label }
  }

  static let validCases: [Case] = [
    .init("no labels", [:]),
    .init("one label", ["app": "firewall"]),
    .init("empty value", ["app": ""]),
    .init("maxLabels labels", labels(count: Limits.maxLabels)),
    .init("key of maxLabelKeyBytes", [string(ofBytes: Limits.maxLabelKeyBytes): "v"]),
    .init("value of maxLabelValueBytes", ["k": string(ofBytes: Limits.maxLabelValueBytes)]),
    .init(
      "multi-byte value at the limit",
      ["k": string(ofBytes: Limits.maxLabelValueBytes, repeating: "ü")]
    ),
    .init("Unicode key and value", ["schlüssel": "wert-ü", "ключ": "значение"]),
    .init("template value", ["nodeName": "{{ .nodeName }}"]),
    .init("punctuation and spaces", ["app.kubernetes.io/name": "a b/c,d"]),
  ]

  @Test("accepts valid label maps", arguments: validCases)
  func accepts(_ testCase: Case) throws {
    try LabelRules.validate(testCase.labels, field: Self.field)
  }

  static let invalidCases: [Case] = [
    .init(
      "maxLabels + 1 labels",
      labels(count: Limits.maxLabels + 1),
      mentions: "has 65 labels",
      "limit is 64"
    ),
    .init("empty key", ["": "v"], mentions: "empty label key"),
    .init("empty key with empty value", ["": ""], mentions: "empty label key"),
    .init(
      "key over maxLabelKeyBytes",
      [string(ofBytes: Limits.maxLabelKeyBytes + 1): "v"],
      mentions: "254 bytes",
      "limit is 253"
    ),
    .init(
      "multi-byte key over the byte limit",
      [string(ofBytes: 254, repeating: "ü"): "v"],
      mentions: "254 bytes",
      "limit is 253"
    ),
    .init(
      "value over maxLabelValueBytes",
      ["k": string(ofBytes: Limits.maxLabelValueBytes + 1)],
      mentions: "[k] value is 1025 bytes",
      "limit is 1024"
    ),
    .init(
      "multi-byte value over the byte limit",
      ["k": string(ofBytes: 1026, repeating: "ü")],
      mentions: "[k] value is 1026 bytes"
    ),
    .init("NUL in key", ["a\u{0}b": "v"], mentions: "contains a control character"),
    .init("newline in key", ["a\nb": "v"], mentions: "contains a control character"),
    .init("tab in key", ["a\tb": "v"], mentions: "contains a control character"),
    .init("DEL in key", ["a\u{7F}": "v"], mentions: "contains a control character"),
    .init("C1 control in key", ["a\u{85}": "v"], mentions: "contains a control character"),
    .init("newline in value", ["k": "line1\nline2"], mentions: "[k] value contains a control character"),
    .init("escape in value", ["k": "\u{1B}[31mred"], mentions: "[k] value contains a control character"),
    .init("one bad among good", ["a": "1", "b": "2\r", "c": "3"], mentions: "[b] value"),
  ]

  @Test("rejects invalid label maps with INVALID_ARGUMENT naming the field", arguments: invalidCases)
  func rejects(_ testCase: Case) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in
      try LabelRules.validate(testCase.labels, field: Self.field)
    }
    #expect(error.message.hasPrefix(Self.field))
    for fragment in testCase.mentions {
      expectMessage(error, contains: fragment)
    }
  }

  @Test("reports problems in a stable (key-sorted) order")
  func reportsFirstKeyInSortedOrder() throws {
    let labels = ["z": "bad\n", "m": "bad\n", "a": "bad\n"]
    for _ in 0..<5 {
      let error = try requireInvalidArgument { () throws(NSMError) in
        try LabelRules.validate(labels, field: "f")
      }
      #expect(error.message == "f[a] value contains a control character")
    }
  }

  @Test("the documented limits")
  func limits() {
    #expect(Limits.maxLabels == 64)
    #expect(Limits.maxLabelKeyBytes == 253)
    #expect(Limits.maxLabelValueBytes == 1024)
    #expect(Limits.maxNameBytes == 253)
    #expect(Limits.maxListEntries == 256)
    #expect(Limits.maxURLBytes == 2048)
    #expect(Limits.maxRecordBytes == 65_536)
  }
}
