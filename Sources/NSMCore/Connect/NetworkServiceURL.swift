internal import Foundation

/// What `nsm client --network-service` (upstream's `NSM_NETWORK_SERVICES`) names:
/// `kernel://NAME[@DOMAIN][/INTERFACE][?label=value&...]`, or a bare `NAME[@DOMAIN]`.
///
/// `NAME@DOMAIN` is a network service name in another registry domain, never URL user info.
public struct NetworkServiceURL: Hashable, Sendable, CustomStringConvertible {
  public var mechanism: String
  public var networkService: String
  public var interfaceName: String?
  public var labels: [String: String]

  public init(
    mechanism: String = Mechanisms.kernel,
    networkService: String,
    interfaceName: String? = nil,
    labels: [String: String] = [:]
  ) {
    self.mechanism = mechanism
    self.networkService = networkService
    self.interfaceName = interfaceName
    self.labels = labels
  }

  public init(parsing text: String) throws(NSMError) {
    var rest = Substring(text)
    mechanism = Mechanisms.kernel
    if let scheme = rest.range(of: "://") {
      let name = rest[..<scheme.lowerBound].lowercased()
      guard name == "kernel" else {
        throw .invalidArgument("network service URL '\(text)': mechanism '\(name)' is not supported (kernel is)")
      }
      rest = rest[scheme.upperBound...]
    }
    var query: Substring = ""
    if let question = rest.firstIndex(of: "?") {
      query = rest[rest.index(after: question)...]
      rest = rest[..<question]
    }
    var interface: Substring?
    if let slash = rest.firstIndex(of: "/") {
      interface = rest[rest.index(after: slash)...]
      rest = rest[..<slash]
    }
    guard let service = String(rest).removingPercentEncoding, !service.isEmpty else {
      throw .invalidArgument("network service URL '\(text)' names no network service")
    }
    try NameRules.validate(service, field: "network service URL '\(text)'")
    networkService = service
    if let interface, !interface.isEmpty {
      guard let decoded = String(interface).removingPercentEncoding else {
        throw .invalidArgument("network service URL '\(text)': bad percent-encoding in the interface name")
      }
      try Mechanisms.validateInterfaceName(decoded)
      interfaceName = decoded
    }
    labels = [:]
    for pair in query.split(separator: "&") where !pair.isEmpty {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard let key = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding,
        let value = String(parts.count > 1 ? parts[1] : "").replacingOccurrences(of: "+", with: " ")
          .removingPercentEncoding
      else {
        throw .invalidArgument("network service URL '\(text)': bad percent-encoding in '\(pair)'")
      }
      labels[key] = value
    }
    try LabelRules.validate(labels, field: "network service URL '\(text)' labels")
  }

  public var description: String {
    var text = "kernel://\(networkService)"
    if let interfaceName { text += "/\(interfaceName)" }
    if !labels.isEmpty {
      text += "?" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }
    return text
  }
}
