/// An endpoint's IPAM (upstream's point-to-point IPAM): each connection gets two addresses of
/// the endpoint's prefix, one for each end of its vWire, kept for as long as the connection
/// lives and never handed to another connection meanwhile.
///
/// A value type: the endpoint keeps it behind a lock.
public struct AddressPool: Sendable {
  public struct Pair: Hashable, Sendable {
    /// The endpoint's end (`dst_ip_addrs`).
    public var endpoint: UInt128
    /// The client's end (`src_ip_addrs`).
    public var client: UInt128

    public init(endpoint: UInt128, client: UInt128) {
      self.endpoint = endpoint
      self.client = client
    }
  }

  public let prefix: IPPrefix
  private var byConnection: [String: Pair] = [:]
  private var used: Set<UInt128> = []
  /// Where the search for a free address resumes, so a released address is not reused at once
  /// (a late packet of an old vWire should not reach a new one).
  private var cursor: UInt128 = 0

  public init(prefix: IPPrefix) {
    self.prefix = prefix
  }

  /// Addresses still free.
  public var available: UInt128 { usable - UInt128(used.count) }

  public var allocatedCount: Int { byConnection.count }

  /// Offsets that may be handed out: an IPv4 prefix of /30 or wider keeps its network and
  /// broadcast addresses back, as a subnet router would.
  private var firstOffset: UInt128 { !prefix.isIPv6 && prefix.length <= 30 ? 1 : 0 }
  private var usable: UInt128 {
    let reserved: UInt128 = !prefix.isIPv6 && prefix.length <= 30 ? 2 : 0
    return prefix.size - reserved
  }

  /// The pair of `connection`: the one it holds, else the `wanted` one (what a refreshing client
  /// still holds, say after an endpoint restart) when free, else a new one.
  public mutating func allocate(
    connection: String,
    wanted: Pair? = nil
  ) throws(NSMError) -> Pair {
    if let pair = byConnection[connection] { return pair }
    if let wanted, wanted.endpoint != wanted.client, isAssignable(wanted.endpoint), isAssignable(wanted.client) {
      take(wanted, for: connection)
      return wanted
    }
    guard available >= 2 else {
      throw NSMError(
        .resourceExhausted,
        "the address pool \(prefix) is exhausted (\(byConnection.count) connections hold addresses)"
      )
    }
    let endpoint = nextFree()
    used.insert(endpoint)
    let client = nextFree()
    let pair = Pair(endpoint: endpoint, client: client)
    used.remove(endpoint)
    take(pair, for: connection)
    return pair
  }

  /// Frees what `connection` held; nothing when it held nothing.
  public mutating func release(connection: String) {
    guard let pair = byConnection.removeValue(forKey: connection) else { return }
    used.remove(pair.endpoint)
    used.remove(pair.client)
  }

  public func pair(of connection: String) -> Pair? { byConnection[connection] }

  private func isAssignable(_ address: UInt128) -> Bool {
    guard prefix.contains(address), !used.contains(address) else { return false }
    let offset = address - prefix.network
    return offset >= firstOffset && offset < firstOffset + usable
  }

  private mutating func take(_ pair: Pair, for connection: String) {
    used.insert(pair.endpoint)
    used.insert(pair.client)
    byConnection[connection] = pair
  }

  private mutating func nextFree() -> UInt128 {
    while true {
      if cursor >= usable { cursor = 0 }
      let address = prefix.network + firstOffset + cursor
      cursor += 1
      if !used.contains(address) { return address }
    }
  }
}
