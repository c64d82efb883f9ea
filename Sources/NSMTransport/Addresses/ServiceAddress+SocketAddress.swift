public import GRPCNIOTransportHTTP2
public import NSMCore

extension ServiceAddress {
  /// The address to bind. A listen address names an IP literal (or `localhost`); an empty host
  /// (`tcp://:5002`) listens on every IPv4 interface, as upstream.
  public func bindAddress() throws(NSMError) -> GRPCNIOTransportHTTP2.SocketAddress {
    switch self {
    case .unix(let path):
      return .unixDomainSocket(path: path)
    case .tcp(let host, let port):
      switch host {
      case "", "0.0.0.0": return .ipv4(host: "0.0.0.0", port: port)
      case "localhost": return .ipv4(host: "127.0.0.1", port: port)
      default:
        if host.contains(":") { return .ipv6(host: host, port: port) }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else {
          throw .invalidArgument(
            "listen address '\(self)': the host must be an IP address or localhost"
          )
        }
        return .ipv4(host: host, port: port)
      }
    }
  }

  /// The address a transport reports it listens on.
  public init?(_ address: GRPCNIOTransportHTTP2.SocketAddress) {
    if let ipv4 = address.ipv4 {
      self = .tcp(host: ipv4.host, port: ipv4.port)
    } else if let ipv6 = address.ipv6 {
      self = .tcp(host: ipv6.host, port: ipv6.port)
    } else if let unix = address.unixDomainSocket {
      self = .unix(path: unix.path)
    } else {
      return nil
    }
  }
}
