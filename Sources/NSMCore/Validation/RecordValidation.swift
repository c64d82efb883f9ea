public import Foundation
public import NSMAPI
public import SwiftProtobuf

/// Input checks for what clients send to the registry. Every failure is INVALID_ARGUMENT and
/// names the offending field, so nothing invalid reaches a store.
public enum RecordValidation {
  public static let payloads: Set<String> = ["IP", "ETHERNET"]

  /// A Network Service to register. An empty payload is allowed (the registry sets `IP`).
  /// `encodedSize`: its size as it arrived on the wire, when it did (else it is encoded to be
  /// measured).
  public static func validate(_ ns: Registry_NetworkService, encodedSize: Int? = nil) throws(NSMError) {
    try checkSize(ns, kind: "network service", encodedSize: encodedSize)
    try NameRules.validate(ns.name, field: "network_service.name")
    if !ns.payload.isEmpty, !payloads.contains(ns.payload) {
      throw .invalidArgument(
        "network_service.payload '\(ns.payload)' is not one of IP, ETHERNET"
      )
    }
    try checkCount(ns.matches.count, field: "network_service.matches")
    for (i, match) in ns.matches.enumerated() {
      let field = "network_service.matches[\(i)]"
      try LabelRules.validate(match.sourceSelector, field: "\(field).source_selector")
      try LabelRules.validate(match.metadata.labels, field: "\(field).metadata.labels")
      try checkCount(match.routes.count, field: "\(field).routes")
      for (j, route) in match.routes.enumerated() {
        try LabelRules.validate(
          route.destinationSelector,
          field: "\(field).routes[\(j)].destination_selector"
        )
      }
    }
    try checkPathIDs(ns.pathIds, field: "network_service.path_ids")
  }

  /// A Network Service Endpoint to register. `now` rejects an expiration already in the past;
  /// `encodedSize` as for a Network Service.
  public static func validate(
    _ nse: Registry_NetworkServiceEndpoint,
    now: Date,
    encodedSize: Int? = nil
  ) throws(NSMError) {
    try checkSize(nse, kind: "network service endpoint", encodedSize: encodedSize)
    try NameRules.validate(nse.name, field: "network_service_endpoint.name")
    try checkCount(nse.networkServiceNames.count, field: "network_service_endpoint.network_service_names")
    for (i, service) in nse.networkServiceNames.enumerated() {
      try NameRules.validate(service, field: "network_service_endpoint.network_service_names[\(i)]")
    }
    if nse.networkServiceLabels.count > Limits.maxListEntries {
      throw .invalidArgument(
        "network_service_endpoint.network_service_labels has \(nse.networkServiceLabels.count) services; the limit is \(Limits.maxListEntries)"
      )
    }
    for (service, labels) in nse.networkServiceLabels.sorted(by: { $0.key < $1.key }) {
      try NameRules.validate(service, field: "network_service_endpoint.network_service_labels key")
      try LabelRules.validate(
        labels.labels,
        field: "network_service_endpoint.network_service_labels[\(service)]"
      )
    }
    if nse.url.utf8.count > Limits.maxURLBytes {
      throw .invalidArgument(
        "network_service_endpoint.url is \(nse.url.utf8.count) bytes; the limit is \(Limits.maxURLBytes)"
      )
    }
    if nse.url.unicodeScalars.contains(where: {
      $0.properties.isWhitespace || $0.properties.generalCategory == .control
    }) {
      throw .invalidArgument("network_service_endpoint.url contains whitespace or a control character")
    }
    if nse.hasExpirationTime {
      let expiry = nse.expirationTime
      if !(0..<1_000_000_000).contains(expiry.nanos) || expiry.seconds < 0
        || expiry.seconds > 253_402_300_799
      {
        throw .invalidArgument("network_service_endpoint.expiration_time is not a valid timestamp")
      }
      if expiry.date <= now {
        throw .invalidArgument(
          "network_service_endpoint.expiration_time \(iso8601(expiry.date)) is not in the future"
        )
      }
    }
    try checkPathIDs(nse.pathIds, field: "network_service_endpoint.path_ids")
  }

  /// The field a record kind's name is reported as: `network_service_endpoint.name`.
  public static func nameField(kind: String) -> String {
    kind.replacingOccurrences(of: " ", with: "_") + ".name"
  }

  /// A Find query: a template whose empty fields are wildcards. Only its size is limited, and
  /// a non-empty name must be valid (an invalid name could never match anything).
  public static func validateQuery(
    _ template: some SwiftProtobuf.Message,
    name: String,
    kind: String,
    encodedSize: Int? = nil
  ) throws(NSMError) {
    try checkSize(template, kind: kind + " query", encodedSize: encodedSize)
    if !name.isEmpty {
      try NameRules.validate(name, field: nameField(kind: kind))
    }
  }

  /// Encoding a message only to measure it was a registry call's largest cost of its own
  /// (docs/benchmarks.md "One call"): a message from the wire comes with its size.
  static func checkSize(_ message: some SwiftProtobuf.Message, kind: String, encodedSize: Int?) throws(NSMError) {
    let size: Int
    if let encodedSize {
      size = encodedSize
    } else {
      do {
        let bytes: [UInt8] = try message.serializedBytes()
        size = bytes.count
      } catch {
        throw .invalidArgument("the \(kind) cannot be encoded: \(error)")
      }
    }
    if size > Limits.maxRecordBytes {
      throw .invalidArgument(
        "the \(kind) is \(size) bytes encoded; the limit is \(Limits.maxRecordBytes)"
      )
    }
  }

  static func checkCount(_ count: Int, field: String) throws(NSMError) {
    if count > Limits.maxListEntries {
      throw .invalidArgument("\(field) has \(count) entries; the limit is \(Limits.maxListEntries)")
    }
  }

  static func checkPathIDs(_ ids: [String], field: String) throws(NSMError) {
    try checkCount(ids.count, field: field)
    for (i, id) in ids.enumerated() where id.utf8.count > Limits.maxURLBytes {
      throw .invalidArgument("\(field)[\(i)] is \(id.utf8.count) bytes; the limit is \(Limits.maxURLBytes)")
    }
  }
}

func iso8601(_ date: Date) -> String {
  date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
}
