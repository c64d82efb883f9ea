public import NIOCore
internal import NIOPosix
internal import Synchronization

/// The userspace relay of a gateway (no privileges needed): one UDP socket on each side, both
/// on one event loop, so a packet read on one side is written on the other without a thread
/// hop. Reads are batched (`recvmmsg`) and the writes of one read burst leave together at the
/// burst's end (one flush, `sendmmsg`). Each packet's VNI is rewritten in place to the other
/// side's; what ``RelayTable`` does not route is dropped.
///
/// With `offload` (Linux: UDP GRO and GSO), the kernel may hand over one vWire's consecutive
/// packets as one buffer of equal segments, which leaves again as one GSO write: one system
/// call and one route lookup for up to 64 KB instead of one per 1.4 KB packet. Without it,
/// each read slot holds one datagram of a 1,500-byte underlay.
public final class VXLANRelay: Sendable {
  public let table: RelayTable
  public let inside: any Channel
  public let outside: any Channel

  private init(table: RelayTable, inside: any Channel, outside: any Channel) {
    self.table = table
    self.inside = inside
    self.outside = outside
  }

  /// Binds both sides (`host`, `port`; port 0: any free one) on one event loop of `group`
  /// (default: NIO's shared one).
  public static func start(
    table: RelayTable,
    inside: (host: String, port: Int),
    outside: (host: String, port: Int),
    group: (any EventLoopGroup)? = nil,
    offload: Bool = System.supportsUDPReceiveOffload && System.supportsUDPSegmentationOffload
  ) async throws -> VXLANRelay {
    let loop = (group ?? MultiThreadedEventLoopGroup.singleton).next()
    // A coalesced read can be 64 KB; fewer slots keep the buffer near the same size.
    let (batch, maxDatagram) = offload ? (8, 65_536) : (32, 2048)
    let slots = Slots()
    func bind(_ side: RelaySide, _ address: (host: String, port: Int)) async throws -> any Channel {
      var bootstrap = DatagramBootstrap(group: loop)
      if offload {
        // One vector read per loop turn: its writes are flushed (sent) before the next read,
        // so the next read reuses the same large buffer instead of allocating another.
        bootstrap =
          bootstrap
          .channelOption(.datagramReceiveOffload, value: true)
          .channelOption(.datagramReceiveSegmentSize, value: true)
          .channelOption(.maxMessagesPerRead, value: 1)
      }
      return
        try await bootstrap
        .channelOption(.datagramVectorReadMessageCount, value: batch)
        // A vector read gives each datagram an equal share of one buffer: room for a VXLAN
        // packet of a 1,500-byte underlay each (NIO's default, 2,048 bytes for all, would cut
        // them short). Kept under malloc's mmap threshold: a buffer still held by queued writes
        // is replaced by a new one at the next read, and a fresh mapping per read costs more.
        .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: batch * maxDatagram))
        .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
        .channelOption(.socketOption(.so_sndbuf), value: 4 << 20)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RelayHandler(side: side, table: table, slots: slots))
          }
        }
        .bind(host: address.host, port: address.port)
        .get()
    }
    let insideChannel = try await bind(.inside, inside)
    let outsideChannel: any Channel
    do {
      outsideChannel = try await bind(.outside, outside)
    } catch {
      try? await insideChannel.close()
      throw error
    }
    slots.set(inside: insideChannel, outside: outsideChannel)
    return VXLANRelay(table: table, inside: insideChannel, outside: outsideChannel)
  }

  /// The local address of `side` (its port resolved).
  public func address(of side: RelaySide) -> SocketAddress? {
    (side == .inside ? inside : outside).localAddress
  }

  public func close() async {
    try? await inside.close()
    try? await outside.close()
  }
}

/// Both channels, for each side's handler to write to the other.
final class Slots: Sendable {
  private let channels = Mutex<(inside: (any Channel)?, outside: (any Channel)?)>((nil, nil))

  func set(inside: any Channel, outside: any Channel) {
    channels.withLock { $0 = (inside, outside) }
  }

  func channel(_ side: RelaySide) -> (any Channel)? {
    channels.withLock { side == .inside ? $0.inside : $0.outside }
  }
}

final class RelayHandler: ChannelInboundHandler {
  typealias InboundIn = AddressedEnvelope<ByteBuffer>

  let side: RelaySide
  let table: RelayTable
  let slots: Slots
  /// The other side's channel, taken from ``Slots`` once (the handler lives on the loop).
  private var other: (any Channel)?
  private var pending = false

  init(side: RelaySide, table: RelayTable, slots: Slots) {
    self.side = side
    self.table = table
    self.slots = slots
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let envelope = unwrapInboundIn(data)
    let total = envelope.data.readableBytes
    // A coalesced read (GRO) holds equal segments, the last possibly shorter.
    let segment = min(envelope.metadata?.segmentSize ?? total, total)
    if segment > 0, segment < total {
      if relay(envelope.data, from: envelope.remoteAddress, segment: segment) { return }
      // Not one vWire's VXLAN throughout (two VNIs sharing a UDP flow): each packet alone.
      var offset = 0
      while offset < total,
        let packet = envelope.data.getSlice(
          at: envelope.data.readerIndex + offset,
          length: min(segment, total - offset)
        )
      {
        relayAlone(packet, from: envelope.remoteAddress)
        offset += segment
      }
      return
    }
    relayAlone(envelope.data, from: envelope.remoteAddress)
  }

  private func relayAlone(_ packet: ByteBuffer, from remote: SocketAddress) {
    if !relay(packet, from: remote, segment: max(packet.readableBytes, 1)) { table.countNotVXLAN() }
  }

  /// Relays `data`: one VXLAN packet, or several of one vWire back to back, each `segment`
  /// bytes but the last, which get the other side's VNI in place and leave as one (GSO)
  /// write. False, with nothing done or counted, when a packet is not VXLAN or the packets
  /// carry different VNIs; true when relayed or dropped (and counted) by ``RelayTable``.
  private func relay(_ data: ByteBuffer, from remote: SocketAddress, segment: Int) -> Bool {
    var data = data
    let start = data.readerIndex
    let total = data.readableBytes
    // VXLAN (RFC 7348): flags with the I bit, 3 reserved bytes, the VNI, one reserved byte.
    var vni: UInt32?
    var offset = 0
    while offset < total {
      guard total - offset >= 8, let flags = data.getInteger(at: start + offset, as: UInt8.self), flags & 0x08 != 0,
        let word = data.getInteger(at: start + offset + 4, as: UInt32.self), vni == nil || vni == word >> 8
      else { return false }
      vni = word >> 8
      offset += segment
    }
    guard let vni else { return false }
    let packets = (total + segment - 1) / segment
    guard let source = remote.ipAddress,
      let forward = table.route(vni: vni, from: source, arrivingOn: side, packets: packets)
    else { return true }
    if other == nil { other = slots.channel(side.other) }
    guard let other, let destination = try? SocketAddress(ipAddress: forward.address, port: forward.port)
    else { return true }
    // Most splices keep their VNI on both sides (the gateway offers the next hop the previous
    // hop's): then the bytes leave as they came, and the read buffer, which a vector read's
    // messages share, is not copied on write.
    offset = forward.vni == vni ? total : 0
    while offset < total {
      let low = data.getInteger(at: start + offset + 7, as: UInt8.self) ?? 0
      data.setInteger(forward.vni << 8 | UInt32(low), at: start + offset + 4)
      offset += segment
    }
    let metadata =
      packets > 1
      ? AddressedEnvelope<ByteBuffer>.Metadata(ecnState: .transportNotCapable, packetInfo: nil, segmentSize: segment)
      : nil
    other.write(AddressedEnvelope(remoteAddress: destination, data: data, metadata: metadata), promise: nil)
    pending = true
    return true
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    if pending, let other {
      pending = false
      other.flush()
    }
    context.fireChannelReadComplete()
  }
}
