internal import Foundation
public import NSMCore

/// A DNS server to ask: an IP literal and a port (ldns takes only literals).
public struct NameServer: Hashable, Sendable, CustomStringConvertible {
  public var host: String
  public var port: UInt16

  public init(host: String, port: UInt16 = 53) {
    self.host = host
    self.port = port
  }

  /// `IP`, `IP:PORT` or `[IPv6]:PORT`.
  public init(parsing text: String) throws(NSMError) {
    if let (host, port) = DomainName.splitHostPort(text) {
      guard DomainName.isDecimal(port), let number = UInt16(port), number > 0 else {
        throw .invalidArgument("DNS server '\(text)' has an invalid port")
      }
      self.init(host: host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host, port: number)
    } else {
      self.init(host: text, port: 53)
    }
    guard Self.isIPLiteral(self.host) else {
      throw .invalidArgument("DNS server '\(text)' must be an IP address (optionally with :PORT)")
    }
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

  static func isIPLiteral(_ host: String) -> Bool {
    var v4 = in_addr()
    var v6 = in6_addr()
    return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
  }

  /// The `nameserver` lines of resolv.conf that are IP literals, in order.
  public static func fromResolvConf(_ path: String = "/etc/resolv.conf") -> [NameServer] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { line in
      let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
      guard fields.count >= 2, fields[0] == "nameserver" else { return nil }
      // A scoped IPv6 address (fe80::1%eth0) cannot be given to ldns as a literal.
      let host = String(fields[1])
      return isIPLiteral(host) ? NameServer(host: host) : nil
    }
  }
}
