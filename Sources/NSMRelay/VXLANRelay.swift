public import NIOCore
internal import NIOPosix
internal import Synchronization

/// The userspace relay of a gateway (no privileges needed): one UDP socket on each side, both
/// on one event loop, so a packet read on one side is written on the other without a thread
/// hop. Reads are batched (`recvmmsg`, 32 datagrams of up to 2,048 bytes: a 1,500-byte underlay's) and the writes of one
/// read burst leave together at the burst's end (one flush, `sendmmsg`). Each packet's VNI is
/// rewritten in place to the other side's; what ``RelayTable`` does not route is dropped.
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
    group: (any EventLoopGroup)? = nil
  ) async throws -> VXLANRelay {
    let loop = (group ?? MultiThreadedEventLoopGroup.singleton).next()
    let batch = 32
    let maxDatagram = 2048
    let slots = Slots()
    func bind(_ side: RelaySide, _ address: (host: String, port: Int)) async throws -> any Channel {
      try await DatagramBootstrap(group: loop)
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
    var envelope = unwrapInboundIn(data)
    let start = envelope.data.readerIndex
    // VXLAN (RFC 7348): flags with the I bit, 3 reserved bytes, the VNI, one reserved byte.
    guard envelope.data.readableBytes >= 8, let flags = envelope.data.getInteger(at: start, as: UInt8.self),
      flags & 0x08 != 0, let word = envelope.data.getInteger(at: start + 4, as: UInt32.self)
    else {
      table.countNotVXLAN()
      return
    }
    guard let source = envelope.remoteAddress.ipAddress,
      let forward = table.route(vni: word >> 8, from: source, arrivingOn: side)
    else { return }
    if other == nil { other = slots.channel(side.other) }
    guard let other, let destination = try? SocketAddress(ipAddress: forward.address, port: forward.port)
    else { return }
    envelope.data.setInteger(forward.vni << 8 | (word & 0xff), at: start + 4)
    other.write(AddressedEnvelope(remoteAddress: destination, data: envelope.data), promise: nil)
    pending = true
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    if pending, let other {
      pending = false
      other.flush()
    }
    context.fireChannelReadComplete()
  }
}
