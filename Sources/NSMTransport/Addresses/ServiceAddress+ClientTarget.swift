public import GRPCNIOTransportHTTP2
public import NSMCore

extension ServiceAddress {
  /// The target a gRPC client dials for this address.
  public var clientTarget: any ResolvableTarget {
    switch self {
    case .unix(let path):
      return .unixDomainSocket(path: path)
    case .tcp(let host, let port):
      if host.isEmpty || host == "0.0.0.0" { return .ipv4(address: "127.0.0.1", port: port) }
      if host.contains(":") { return .ipv6(address: host, port: port) }
      if host.split(separator: ".").count == 4, host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) {
        return .ipv4(address: host, port: port)
      }
      return .dns(host: host, port: port)
    }
  }
}
