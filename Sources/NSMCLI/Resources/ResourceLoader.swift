internal import Foundation
internal import NSMAPI
internal import SwiftProtobuf
internal import Yams

/// Reads NetworkService and NetworkServiceEndpoint documents from YAML or JSON, one or many.
///
/// Field names are accepted as the proto spells them (`source_selector`) or in JSON's camel case
/// (`sourceSelector`). Label values are always strings: `supplier: true` reads as "true".
/// Unknown fields are errors, so a typo never silently drops part of a service.
public struct ResourceLoader {
  public struct Loaded: Sendable {
    public var resources: [Resource]
    /// Input that was read by its evident intent rather than as written.
    public var warnings: [String]
  }

  private let source: String
  private var warnings: [String] = []

  private init(source: String) {
    self.source = source
  }

  /// Parses every document of `text`; `source` names it in messages (a file path or `-`).
  public static func load(_ text: String, source: String) throws -> Loaded {
    var loader = ResourceLoader(source: source)
    var resources: [Resource] = []
    do {
      // The parser, not `compose_all`: its lazy sequence ends quietly on a syntax error.
      let parser = try Parser(yaml: text)
      while let document = try parser.nextRoot() {
        if document.null != nil { continue }
        resources.append(try loader.resource(document))
      }
    } catch let error as ResourceError {
      throw error
    } catch let error as YamlError {
      throw ResourceError("\(source): not valid YAML or JSON: \(error)")
    }
    return Loaded(resources: resources, warnings: loader.warnings)
  }

  // MARK: Documents

  private mutating func resource(_ node: Node) throws -> Resource {
    let fields = try mapping(node, at: "")
    let known: Set<String> = ["apiversion", "kind", "metadata", "spec"]
    try rejectUnknown(fields, known: known, at: "")
    let apiVersion = try fields["apiversion"].map { try string($0, at: "apiVersion") }
    guard apiVersion == Resource.apiVersion else {
      throw fail(node, "apiVersion", "must be \(Resource.apiVersion), not '\(apiVersion ?? "")'")
    }
    guard let kindNode = fields["kind"] else { throw fail(node, "kind", "is missing") }
    let kind = try string(kindNode, at: "kind")
    guard let metadataNode = fields["metadata"] else { throw fail(node, "metadata", "is missing") }
    let metadata = try mapping(metadataNode, at: "metadata")
    guard let nameNode = metadata["name"] else { throw fail(metadataNode, "metadata.name", "is missing") }
    let name = try string(nameNode, at: "metadata.name")
    if name.isEmpty { throw fail(nameNode, "metadata.name", "is empty") }
    let spec = try fields["spec"].map { try mapping($0, at: "spec") } ?? Fields()

    if let specName = spec["name"], try string(specName, at: "spec.name") != name {
      throw fail(specName, "spec.name", "differs from metadata.name '\(name)'")
    }
    switch kind {
    case "NetworkService":
      return .networkService(try networkService(name: name, spec: spec))
    case "NetworkServiceEndpoint":
      return .endpoint(try endpoint(name: name, spec: spec))
    default:
      throw fail(kindNode, "kind", "must be NetworkService or NetworkServiceEndpoint, not '\(kind)'")
    }
  }

  private mutating func networkService(name: String, spec: Fields) throws -> Registry_NetworkService {
    try rejectUnknown(spec, known: ["name", "payload", "matches", "pathids"], at: "spec")
    var ns = Registry_NetworkService()
    ns.name = name
    if let payload = spec["payload"] { ns.payload = try string(payload, at: "spec.payload") }
    if let matches = spec["matches"] {
      var implicit: [(Int, Node)] = []
      for (i, matchNode) in try list(matches, at: "spec.matches").enumerated() {
        ns.matches.append(try match(matchNode, at: "spec.matches[\(i)]"))
        if (try? mapping(matchNode, at: ""))?["fallthrough"] == nil { implicit.append((i, matchNode)) }
      }
      // The seed's scale-from-zero document lists the supplier after the local-endpoint match
      // and expects it to be reached when no local endpoint exists; upstream only falls through
      // with `fallthrough: true`. Matches before a supplier route get it, said aloud.
      if let supplier = ns.matches.lastIndex(where: {
        $0.routes.contains { $0.destinationSelector["supplier"] == "true" }
      }) {
        for (i, node) in implicit where i < supplier {
          ns.matches[i].fallthrough = true
          warnings.append(
            "\(location(node)): spec.matches[\(i)] has no fallthrough; read as fallthrough: true so that spec.matches[\(supplier)] (a supplier) is reached when it selects no endpoint"
          )
        }
      }
    }
    if let ids = spec["pathids"] { ns.pathIds = try strings(ids, at: "spec.path_ids") }
    return ns
  }

  private mutating func match(_ node: Node, at path: String) throws -> Registry_Match {
    let fields = try mapping(node, at: path)
    try rejectUnknown(fields, known: ["sourceselector", "routes", "fallthrough", "metadata"], at: path)
    var match = Registry_Match()
    var misplacedRoutes: Node?
    if let selector = fields["sourceselector"] {
      var entries = try mapping(selector, at: "\(path).source_selector")
      // The seed's selective-composition example indents `routes` under `source_selector`;
      // a list is never a label value, so read it as the match's routes and say so.
      if let routes = entries["routes"], routes.sequence != nil, fields["routes"] == nil {
        misplacedRoutes = routes
        entries.remove("routes")
        warnings.append(
          "\(location(routes)): \(path).source_selector.routes is a list, not a label; read as \(path).routes (is it indented one level too deep?)"
        )
      }
      match.sourceSelector = try labels(entries, at: "\(path).source_selector")
    }
    if let routes = fields["routes"] ?? misplacedRoutes {
      for (j, routeNode) in try list(routes, at: "\(path).routes").enumerated() {
        match.routes.append(try destination(routeNode, at: "\(path).routes[\(j)]"))
      }
    }
    if let flag = fields["fallthrough"] {
      guard let value = flag.bool else { throw fail(flag, "\(path).fallthrough", "must be true or false") }
      match.fallthrough = value
    }
    if let metadata = fields["metadata"] {
      let metadataFields = try mapping(metadata, at: "\(path).metadata")
      try rejectUnknown(metadataFields, known: ["labels"], at: "\(path).metadata")
      match.metadata = .with { _ in }
      if let labelsNode = metadataFields["labels"] {
        match.metadata.labels = try labels(
          try mapping(labelsNode, at: "\(path).metadata.labels"),
          at: "\(path).metadata.labels"
        )
      }
    }
    return match
  }

  private func destination(_ node: Node, at path: String) throws -> Registry_Destination {
    let fields = try mapping(node, at: path)
    try rejectUnknown(fields, known: ["destinationselector", "weight"], at: path)
    var destination = Registry_Destination()
    if let selector = fields["destinationselector"] {
      destination.destinationSelector = try labels(
        try mapping(selector, at: "\(path).destination_selector"),
        at: "\(path).destination_selector"
      )
    }
    if let weight = fields["weight"] {
      guard let value = weight.int, let unsigned = UInt32(exactly: value) else {
        throw fail(weight, "\(path).weight", "must be a whole number from 0 to \(UInt32.max)")
      }
      destination.weight = unsigned
    }
    return destination
  }

  private func endpoint(name: String, spec: Fields) throws -> Registry_NetworkServiceEndpoint {
    let known: Set<String> = [
      "name", "networkservicenames", "networkservicelabels", "url", "expirationtime",
      "initialregistrationtime", "pathids",
    ]
    try rejectUnknown(spec, known: known, at: "spec")
    var nse = Registry_NetworkServiceEndpoint()
    nse.name = name
    if let names = spec["networkservicenames"] {
      nse.networkServiceNames = try strings(names, at: "spec.network_service_names")
    }
    if let servicesNode = spec["networkservicelabels"] {
      let services = try mapping(servicesNode, at: "spec.network_service_labels")
      for (service, value) in services.pairs {
        let path = "spec.network_service_labels.\(service)"
        let entry = try mapping(value, at: path)
        try rejectUnknown(entry, known: ["labels"], at: path)
        let serviceLabels =
          try entry["labels"].map { try labels(try mapping($0, at: "\(path).labels"), at: "\(path).labels") } ?? [:]
        nse.networkServiceLabels[service] = .with { $0.labels = serviceLabels }
      }
    }
    if let url = spec["url"] { nse.url = try string(url, at: "spec.url") }
    if let time = spec["expirationtime"] { nse.expirationTime = try timestamp(time, at: "spec.expiration_time") }
    if let time = spec["initialregistrationtime"] {
      nse.initialRegistrationTime = try timestamp(time, at: "spec.initial_registration_time")
    }
    if let ids = spec["pathids"] { nse.pathIds = try strings(ids, at: "spec.path_ids") }
    return nse
  }

  // MARK: Nodes

  /// A mapping's entries by normalised key (`source_selector` and `sourceSelector` are one key),
  /// in document order, with the key as written kept for messages and labels.
  struct Fields {
    var pairs: [(key: String, value: Node)] = []
    subscript(_ normalised: String) -> Node? {
      pairs.first { Fields.normalise($0.key) == normalised }?.value
    }
    mutating func remove(_ key: String) {
      pairs.removeAll { $0.key == key }
    }
    static func normalise(_ key: String) -> String {
      key.replacingOccurrences(of: "_", with: "").lowercased()
    }
  }

  private func mapping(_ node: Node, at path: String) throws -> Fields {
    if node.null != nil { return Fields() }
    guard let mapping = node.mapping else { throw fail(node, path.isEmpty ? "document" : path, "must be a mapping") }
    var fields = Fields()
    for (keyNode, value) in mapping {
      guard let key = keyNode.scalar?.string else { throw fail(keyNode, path, "has a key that is not a string") }
      if fields.pairs.contains(where: { $0.key == key }) {
        throw fail(keyNode, path.isEmpty ? key : "\(path).\(key)", "appears twice")
      }
      fields.pairs.append((key, value))
    }
    return fields
  }

  private func rejectUnknown(_ fields: Fields, known: Set<String>, at path: String) throws {
    for (key, value) in fields.pairs where !known.contains(Fields.normalise(key)) {
      throw fail(value, path.isEmpty ? key : "\(path).\(key)", "is not a known field")
    }
  }

  private func labels(_ fields: Fields, at path: String) throws -> [String: String] {
    var labels: [String: String] = [:]
    for (key, value) in fields.pairs {
      if value.null != nil, value.scalar?.style == .plain {
        labels[key] = ""
        continue
      }
      guard let scalar = value.scalar else {
        throw fail(value, "\(path).\(key)", "must be a string, not a \(value.mapping != nil ? "mapping" : "list")")
      }
      labels[key] = scalar.string
    }
    return labels
  }

  private func string(_ node: Node, at path: String) throws -> String {
    guard let scalar = node.scalar else { throw fail(node, path, "must be a string") }
    return node.null != nil && scalar.style == .plain ? "" : scalar.string
  }

  private func list(_ node: Node, at path: String) throws -> [Node] {
    if node.null != nil { return [] }
    guard let sequence = node.sequence else { throw fail(node, path, "must be a list") }
    return Array(sequence)
  }

  private func strings(_ node: Node, at path: String) throws -> [String] {
    try list(node, at: path).enumerated().map { i, item in try string(item, at: "\(path)[\(i)]") }
  }

  private func timestamp(_ node: Node, at path: String) throws -> Google_Protobuf_Timestamp {
    let text = try string(node, at: path)
    let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    guard let date = (try? Date(text, strategy: .iso8601)) ?? (try? Date(text, strategy: withFraction)) else {
      throw fail(node, path, "'\(text)' is not an RFC 3339 time such as 2026-01-02T15:04:05Z")
    }
    return Google_Protobuf_Timestamp(date: date)
  }

  private func location(_ node: Node) -> String {
    guard let mark = node.mark else { return source }
    return "\(source):\(mark.line)"
  }

  private func fail(_ node: Node, _ path: String, _ problem: String) -> ResourceError {
    ResourceError("\(location(node)): \(path) \(problem)")
  }
}
