/// Where a gRPC server listens or a client dials, in NSM's URL forms:
/// `tcp://host:port`, `tcp://:port` (all interfaces), `unix:///path`, and the bare
/// `host:port` that upstream's `NSM_REGISTRY_URL` also accepts.
public enum ServiceAddress: Hashable, Sendable, CustomStringConvertible {
  case tcp(host: String, port: Int)
  case unix(path: String)

  public init(parsing text: String) throws(NSMError) {
    if text.hasPrefix("unix://") {
      let path = String(text.dropFirst("unix://".count))
      guard path.hasPrefix("/"), path.count > 1 else {
        throw .invalidArgument("address '\(text)': a unix address needs an absolute path (unix:///path)")
      }
      self = .unix(path: path)
      return
    }
    var rest = Substring(text)
    if rest.hasPrefix("tcp://") { rest = rest.dropFirst("tcp://".count) }
    if rest.contains("://") {
      throw .invalidArgument("address '\(text)': only tcp:// and unix:// are supported")
    }
    if let slash = rest.firstIndex(of: "/") {
      if rest[slash...] != "/" {
        throw .invalidArgument("address '\(text)' has a path; expected tcp://host:port")
      }
      rest = rest[..<slash]
    }
    guard let (host, portText) = DomainName.splitHostPort(String(rest)) else {
      throw .invalidArgument("address '\(text)' has no port; expected tcp://host:port")
    }
    guard DomainName.isDecimal(portText), let port = Int(portText), (0...65535).contains(port) else {
      throw .invalidArgument("address '\(text)' has an invalid port '\(portText)'")
    }
    var bareHost = host
    if bareHost.hasPrefix("["), bareHost.hasSuffix("]") {
      bareHost = String(bareHost.dropFirst().dropLast())
      if bareHost.isEmpty {
        throw .invalidArgument("address '\(text)' has an empty IPv6 literal")
      }
    }
    if bareHost.unicodeScalars.contains(where: {
      $0.properties.isWhitespace || $0.properties.generalCategory == .control
    }) {
      throw .invalidArgument("address '\(text)' has whitespace in its host")
    }
    self = .tcp(host: bareHost, port: port)
  }

  public var description: String {
    switch self {
    case .tcp(let host, let port):
      return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
    case .unix(let path):
      return "unix://\(path)"
    }
  }
}
