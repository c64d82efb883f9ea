/// One side of a vWire a gateway splices: the peer's address and UDP port, and the VNI on that
/// side. Both relays take it: the userspace relay's table (NSMRelay) and the kernel relay's
/// nftables maps (NSMDataplane).
public struct RelayLeg: Sendable, Hashable {
  public var address: String
  public var port: Int
  public var vni: UInt32

  public init(address: String, port: Int, vni: UInt32) {
    self.address = address
    self.port = port
    self.vni = vni
  }
}

/// One of a gateway relay's own ends: its address and UDP port on a side (`--inside-tunnel`,
/// `--outside-tunnel`).
public struct RelayEnd: Sendable, Hashable {
  public var address: String
  public var port: Int

  public init(address: String, port: Int) {
    self.address = address
    self.port = port
  }
}
