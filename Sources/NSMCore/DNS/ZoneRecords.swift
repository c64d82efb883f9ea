/// The zone-file lines a domain publishes so that registries (ours and upstream NSM's) find its
/// registry and proxy gateway: `nsm dns records`.
public enum ZoneRecords {
  public struct Endpoint: Sendable {
    public var host: String
    public var port: UInt16

    public init(parsing text: String) throws(NSMError) {
      guard let (host, port) = DomainName.splitHostPort(text), !host.isEmpty,
        DomainName.isDecimal(port), let number = UInt16(port), number > 0
      else {
        throw .invalidArgument("'\(text)' is not HOST:PORT")
      }
      self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
      self.port = number
    }

    var isIPv4: Bool {
      let parts = host.split(separator: ".", omittingEmptySubsequences: false)
      return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
    var isIPv6: Bool { host.contains(":") }
  }

  public static func lines(domain: String, registry: Endpoint, proxy: Endpoint?, ttl: UInt32) throws(NSMError)
    -> [String]
  {
    try DomainName.validate(domain)
    if DomainName.splitHostPort(domain) != nil {
      throw .invalidArgument("'\(domain)' is a host:port literal; only a DNS name publishes records")
    }
    var lines = ["; swift-nsm discovery records for \(domain) (RFC 2782 form, then upstream NSM's form)"]
    lines += service(.registry, domain: domain, endpoint: registry, ttl: ttl)
    if let proxy {
      lines += service(.proxy, domain: domain, endpoint: proxy, ttl: ttl)
    } else {
      lines.append("; no proxy gateway: a floating domain publishes none")
    }
    return lines
  }

  private static func service(_ service: DiscoveryNames.Service, domain: String, endpoint: Endpoint, ttl: UInt32)
    -> [String]
  {
    let names = DiscoveryNames(service: service, domain: domain)
    let isAddress = endpoint.isIPv4 || endpoint.isIPv6
    // With an address, the upstream name carries it and is the RFC record's target too;
    // with a host name, that name is the target of both.
    let target = isAddress ? names.upstream : (endpoint.host.hasSuffix(".") ? endpoint.host : endpoint.host + ".")
    var lines = [
      "\(names.srv) \(ttl) IN SRV 0 0 \(endpoint.port) \(target)",
      "\(names.upstream) \(ttl) IN SRV 0 0 \(endpoint.port) \(target)",
    ]
    if isAddress {
      lines.append("\(names.upstream) \(ttl) IN \(endpoint.isIPv6 ? "AAAA" : "A") \(endpoint.host)")
    } else {
      lines.append(
        "; upstream NSM ignores the SRV target: also publish \(names.upstream) A/AAAA with \(endpoint.host)'s addresses"
      )
    }
    return lines
  }
}
