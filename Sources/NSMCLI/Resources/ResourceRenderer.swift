internal import Foundation
internal import NSMAPI
internal import SwiftProtobuf
internal import Yams

/// Prints resources the way `nsm apply` reads them, so `nsm get -o yaml` output can be applied
/// again unchanged. Empty fields are left out; field names are the proto's (`source_selector`).
enum ResourceRenderer {
  /// One YAML document per resource, each starting with `---`.
  static func yaml(_ resources: [Resource]) throws -> String {
    try resources.map { resource in
      let document = try Yams.serialize(node: node(for: resource), explicitStart: true)
      return document.hasSuffix("\n") ? document : document + "\n"
    }.joined()
  }

  /// A single resource as an object; several (or a listing) as a Kubernetes-style `List`.
  static func json(_ resources: [Resource], single: Bool) throws -> String {
    let object: Any =
      single && resources.count == 1
      ? plain(node(for: resources[0]))
      : ["apiVersion": "v1", "kind": "List", "items": resources.map { plain(node(for: $0)) }]
    let data = try JSONSerialization.data(
      withJSONObject: object,
      options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    )
    return String(decoding: data, as: UTF8.self) + "\n"
  }

  static func node(for resource: Resource) -> Node {
    var spec: [(Node, Node)] = []
    switch resource {
    case .networkService(let ns):
      if !ns.payload.isEmpty { spec.append(("payload", scalar(ns.payload))) }
      if !ns.matches.isEmpty { spec.append(("matches", sequence(ns.matches.map(matchNode)))) }
      if !ns.pathIds.isEmpty { spec.append(("path_ids", sequence(ns.pathIds.map(scalar)))) }
    case .endpoint(let nse):
      if !nse.networkServiceNames.isEmpty {
        spec.append(("network_service_names", sequence(nse.networkServiceNames.map(scalar))))
      }
      if !nse.networkServiceLabels.isEmpty {
        let services = nse.networkServiceLabels.sorted { $0.key < $1.key }.map { service, labels in
          (scalar(service), mapping([("labels", labelsNode(labels.labels))]))
        }
        spec.append(("network_service_labels", mapping(services)))
      }
      if !nse.url.isEmpty { spec.append(("url", scalar(nse.url))) }
      if nse.hasExpirationTime { spec.append(("expiration_time", scalar(timestamp(nse.expirationTime)))) }
      if nse.hasInitialRegistrationTime {
        spec.append(("initial_registration_time", scalar(timestamp(nse.initialRegistrationTime))))
      }
      if !nse.pathIds.isEmpty { spec.append(("path_ids", sequence(nse.pathIds.map(scalar)))) }
    }
    var document: [(Node, Node)] = [
      ("apiVersion", scalar(Resource.apiVersion)),
      ("kind", scalar(resource.kind)),
      ("metadata", mapping([("name", scalar(resource.name))])),
    ]
    if !spec.isEmpty { document.append(("spec", mapping(spec))) }
    return mapping(document)
  }

  static func timestamp(_ value: Google_Protobuf_Timestamp) -> String {
    value.date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
  }

  private static func matchNode(_ match: Registry_Match) -> Node {
    var fields: [(Node, Node)] = []
    if !match.sourceSelector.isEmpty { fields.append(("source_selector", labelsNode(match.sourceSelector))) }
    if !match.routes.isEmpty {
      fields.append(
        (
          "routes",
          sequence(
            match.routes.map { route in
              var routeFields: [(Node, Node)] = [("destination_selector", labelsNode(route.destinationSelector))]
              if route.weight != 0 { routeFields.append(("weight", Node(String(route.weight), Tag(.int)))) }
              return mapping(routeFields)
            }
          )
        )
      )
    }
    if match.fallthrough { fields.append(("fallthrough", Node("true", Tag(.bool)))) }
    if match.hasMetadata { fields.append(("metadata", mapping([("labels", labelsNode(match.metadata.labels))]))) }
    // A catch-all match (no selector, no routes) still needs to be a mapping.
    if fields.isEmpty { fields.append(("source_selector", mapping([]))) }
    return mapping(fields)
  }

  private static func labelsNode(_ labels: [String: String]) -> Node {
    mapping(labels.sorted { $0.key < $1.key }.map { (scalar($0.key), scalar($0.value)) })
  }

  /// A string scalar, quoted when YAML would otherwise read it as another type
  /// (`"true"`, `"1.1"`, `""`).
  private static func scalar(_ value: String) -> Node {
    let plainReading = Resolver.default.resolveTag(of: Node(value))
    let style: Node.Scalar.Style = plainReading == .str ? .any : .doubleQuoted
    return Node(value, Tag(.str), style)
  }

  private static func mapping(_ pairs: [(Node, Node)]) -> Node {
    .mapping(Node.Mapping(pairs))
  }

  private static func sequence(_ nodes: [Node]) -> Node {
    .sequence(Node.Sequence(nodes))
  }

  /// The node as JSON-ready values; every scalar stays a string except booleans and weights.
  private static func plain(_ node: Node) -> Any {
    if let mapping = node.mapping {
      var object: [String: Any] = [:]
      for (key, value) in mapping { object[key.string ?? ""] = plain(value) }
      return object
    }
    if let sequence = node.sequence { return sequence.map(plain) }
    switch Resolver.default.resolveTag(of: node) {
    case .bool: return node.bool ?? false
    case .int: return node.int ?? 0
    default: break
    }
    return node.scalar?.string ?? ""
  }
}
