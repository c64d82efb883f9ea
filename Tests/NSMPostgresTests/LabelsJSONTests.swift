import Foundation
import NSMAPI
import Testing

@testable import NSMPostgres

/// The labels column is JSON written by hand; it must be exactly what a JSON parser reads back.
@Suite("Labels as JSON")
struct LabelsJSONTests {
  @Test func whatIsWrittenParsesBackToTheSameLabels() throws {
    let labels: [String: [String: String]] = [
      "ns-1": ["app": "web", "a'b": "c\"d\\e", "{{ .x }}": "%_*"],
      "o'brien\";--drop-täble-数据": ["ключ": "значение 🙂", "tab\there": "line\nbreak\r", "bell\u{7}": "\u{1f}"],
      "empty": [:],
    ]
    let json = try Registry_NetworkServiceEndpoint.labelsJSON(
      labels.mapValues { labels in .with { $0.labels = labels } }
    )
    let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [String: String]]
    #expect(parsed == labels)
    #expect(try Registry_NetworkServiceEndpoint.labelsJSON([:]) == "{}")
    #expect(
      try Registry_NetworkServiceEndpoint.labelsJSON(["b": .with { $0.labels = ["y": "1", "x": "2"] }, "a": .init()])
        == #"{"a":{},"b":{"x":"2","y":"1"}}"#
    )
  }
}
