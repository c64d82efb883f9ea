#if canImport(Glibc)
  internal import Glibc
#elseif canImport(Darwin)
  internal import Darwin
#endif

/// An IPv4 or IPv6 prefix such as `172.16.0.0/24`, with its addresses as numbers so that a
/// pool can count through them.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
  public var isIPv6: Bool
  /// The network address (host bits cleared).
  public var network: UInt128
  public var length: Int

  public init(parsing text: String) throws(NSMError) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let length = Int(parts[1]), parts[1].allSatisfy(\.isASCII) else {
      throw .invalidArgument("'\(text)' is not a CIDR prefix (address/length)")
    }
    guard let (address, isIPv6) = Self.parseAddress(String(parts[0])) else {
      throw .invalidArgument("'\(text)': '\(parts[0])' is not an IP address")
    }
    let bits = isIPv6 ? 128 : 32
    guard (0...bits).contains(length) else {
      throw .invalidArgument("'\(text)': prefix length \(length) is outside 0...\(bits)")
    }
    self.isIPv6 = isIPv6
    self.length = length
    let hostBits = bits - length
    network = hostBits >= 128 ? 0 : (address >> UInt128(hostBits)) << UInt128(hostBits)
  }

  public var bitWidth: Int { isIPv6 ? 128 : 32 }

  /// How many addresses the prefix spans (saturating at UInt128.max for ::/0).
  public var size: UInt128 {
    let hostBits = bitWidth - length
    return hostBits >= 128 ? .max : UInt128(1) << UInt128(hostBits)
  }

  public func contains(_ address: UInt128) -> Bool {
    address >= network && address - network < size
  }

  public func format(_ address: UInt128) -> String { Self.format(address, isIPv6: isIPv6) }

  public var description: String { "\(format(network))/\(length)" }

  /// An address in text form, as inet_pton reads it.
  public static func parseAddress(_ text: String) -> (UInt128, isIPv6: Bool)? {
    if text.contains(":") {
      var storage = in6_addr()
      guard inet_pton(AF_INET6, text, &storage) == 1 else { return nil }
      let value = withUnsafeBytes(of: storage) { bytes in bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
      return (value, true)
    }
    var storage = in_addr()
    guard inet_pton(AF_INET, text, &storage) == 1 else { return nil }
    let value = withUnsafeBytes(of: storage) { bytes in bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
    return (value, false)
  }

  public static func format(_ address: UInt128, isIPv6: Bool) -> String {
    if !isIPv6 {
      let v = UInt32(truncatingIfNeeded: address)
      return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
    }
    var storage = in6_addr()
    withUnsafeMutableBytes(of: &storage) { bytes in
      for index in 0..<16 { bytes[index] = UInt8(truncatingIfNeeded: address >> UInt128((15 - index) * 8)) }
    }
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    _ = inet_ntop(AF_INET6, &storage, &buffer, socklen_t(buffer.count))
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}
