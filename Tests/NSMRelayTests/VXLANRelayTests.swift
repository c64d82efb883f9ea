import NIOCore
import NIOPosix
import NSMCore
import NSMRelay
import Synchronization
import Testing

/// The gateway's userspace relay over real UDP sockets on loopback: a manager's packets cross
/// to the other gateway with the other side's VNI and back, and packets from an address or with
/// a VNI that was not negotiated never leave.
struct VXLANRelayTests {
  /// A UDP socket of the test's: sends datagrams and collects what arrives.
  struct Peer {
    let channel: any Channel
    let collector: Collector

    final class Collector: ChannelInboundHandler, Sendable {
      typealias InboundIn = AddressedEnvelope<ByteBuffer>
      let seen = Mutex<[[UInt8]]>([])

      func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        seen.withLock { $0.append(Array(envelope.data.readableBytesView)) }
      }
    }

    static func bind(_ host: String) async throws -> Peer {
      let collector = Collector()
      let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
        }
        .bind(host: host, port: 0)
        .get()
      return Peer(channel: channel, collector: collector)
    }

    var port: Int { channel.localAddress?.port ?? 0 }

    func send(_ bytes: [UInt8], to address: SocketAddress) async throws {
      try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: bytes)))
    }

    var received: [[UInt8]] { collector.seen.withLock { $0 } }

    /// Equal datagrams in one GSO write: the kernel splits them, or hands them to a UDP GRO
    /// socket (the relay's) as one coalesced buffer.
    func sendSegmented(_ packets: [[UInt8]], to address: SocketAddress) async throws {
      let metadata = AddressedEnvelope<ByteBuffer>.Metadata(
        ecnState: .transportNotCapable,
        packetInfo: nil,
        segmentSize: packets[0].count
      )
      try await channel.writeAndFlush(
        AddressedEnvelope(remoteAddress: address, data: ByteBuffer(bytes: packets.flatMap { $0 }), metadata: metadata)
      )
    }
  }

  /// `conn-1`: VNI 100 with the manager inside, 200 with the other gateway outside.
  static func splice(_ table: RelayTable, manager: Peer, otherGateway: Peer) -> Bool {
    table.set(
      "conn-1",
      .init(
        inside: RelayLeg(address: "127.0.0.1", port: manager.port, vni: 100),
        outside: RelayLeg(address: "127.0.0.1", port: otherGateway.port, vni: 200)
      )
    )
  }

  static func vxlan(_ vni: UInt32, _ payload: String) -> [UInt8] {
    [0x08, 0, 0, 0, UInt8(vni >> 16 & 0xff), UInt8(vni >> 8 & 0xff), UInt8(vni & 0xff), 0] + Array(payload.utf8)
  }

  static func vni(of packet: [UInt8]) -> UInt32 {
    UInt32(packet[4]) << 16 | UInt32(packet[5]) << 8 | UInt32(packet[6])
  }

  @Test func aSplicedVWireCrossesBothWaysAndNothingElseDoes() async throws {
    let table = RelayTable()
    let relay = try await VXLANRelay.start(table: table, inside: ("127.0.0.1", 0), outside: ("127.0.0.1", 0))
    let manager = try await Peer.bind("127.0.0.1")
    let otherGateway = try await Peer.bind("127.0.0.1")
    let intruder = try await Peer.bind("127.0.0.2")
    let inside = try #require(relay.address(of: .inside))
    let outside = try #require(relay.address(of: .outside))
    #expect(Self.splice(table, manager: manager, otherGateway: otherGateway))

    try await manager.send(Self.vxlan(100, "out"), to: inside)
    // A full-size frame crosses whole (a vector read must not cut datagrams short).
    let large = String(repeating: "0123456789", count: 150)
    try await manager.send(Self.vxlan(100, large), to: inside)
    try await otherGateway.send(Self.vxlan(200, "back"), to: outside)
    try await intruder.send(Self.vxlan(100, "intruder"), to: inside)
    try await manager.send(Self.vxlan(101, "wrong vni"), to: inside)
    try await manager.send([1, 2, 3], to: inside)
    // Loopback delivers within moments, but under load the relay may count the last datagram
    // late: wait for all six to be counted, then a moment more; what has not arrived was dropped.
    for _ in 0..<500 {
      let counters = table.counters
      if counters.relayed + counters.unknownVNI + counters.wrongSource + counters.notVXLAN >= 6 { break }
      try await Task.sleep(for: .milliseconds(20))
    }
    try await Task.sleep(for: .milliseconds(500))
    let crossedOut = otherGateway.received
    let crossedBack = manager.received
    #expect(intruder.received.isEmpty)

    #expect(crossedOut.map { String(decoding: $0.dropFirst(8), as: UTF8.self) } == ["out", large])
    #expect(crossedOut.map(Self.vni) == [200, 200], "the outside's VNI")
    #expect(crossedBack.map { String(decoding: $0.dropFirst(8), as: UTF8.self) } == ["back"])
    #expect(crossedBack.map(Self.vni) == [100], "the inside's VNI")
    #expect(
      table.counters == RelayTable.Counters(relayed: 3, unknownVNI: 1, wrongSource: 1, notVXLAN: 1),
      "\(table.counters)"
    )
    await relay.close()
  }

  /// A burst of one vWire's packets sent as one GSO write (over loopback the relay's UDP GRO
  /// socket may get it coalesced): every packet crosses with the other side's VNI and is
  /// counted; in a burst that mixes VNIs each packet is judged alone.
  @Test(.enabled(if: System.supportsUDPSegmentationOffload))
  func aBurstOfPacketsCrossesWholeAndAMixedBurstIsJudgedPacketByPacket() async throws {
    let table = RelayTable()
    let relay = try await VXLANRelay.start(table: table, inside: ("127.0.0.1", 0), outside: ("127.0.0.1", 0))
    let manager = try await Peer.bind("127.0.0.1")
    let otherGateway = try await Peer.bind("127.0.0.1")
    let inside = try #require(relay.address(of: .inside))
    #expect(Self.splice(table, manager: manager, otherGateway: otherGateway))
    let burst = (0..<5).map { Self.vxlan(100, String(repeating: "\($0)", count: 1_000)) }
    try await manager.sendSegmented(burst, to: inside)
    let mixed = [Self.vxlan(100, "aaaa"), Self.vxlan(101, "bbbb"), Self.vxlan(100, "cccc")]
    try await manager.sendSegmented(mixed, to: inside)
    try await Task.sleep(for: .milliseconds(500))

    let crossed = otherGateway.received
    #expect(crossed.map { $0.count } == Array(repeating: 1_008, count: 5) + [12, 12], "\(crossed.map(\.count))")
    #expect(crossed.map(Self.vni) == Array(repeating: 200, count: 7))
    #expect(crossed.prefix(5).map { Array($0.dropFirst(8)) } == burst.map { Array($0.dropFirst(8)) })
    #expect(crossed.suffix(2).map { String(decoding: $0.dropFirst(8), as: UTF8.self) } == ["aaaa", "cccc"])
    #expect(table.counters == RelayTable.Counters(relayed: 7, unknownVNI: 1), "\(table.counters)")
    await relay.close()
  }

  @Test func aPeerAndVNIAreHeldByOneSpliceOnEachSideAndFreedOnRemoval() {
    let table = RelayTable()
    let splice = RelayTable.Splice(
      inside: RelayLeg(address: "10.0.0.1", port: 4789, vni: 7),
      outside: RelayLeg(address: "198.51.100.2", port: 4789, vni: 9)
    )
    #expect(table.set("a", splice))
    var clash = splice
    clash.outside.vni = 10
    #expect(!table.set("b", clash), "VNI 7 with 10.0.0.1 is a's on the inside")
    var otherPeer = clash
    otherPeer.inside.address = "10.0.0.2"
    otherPeer.outside.vni = 11
    #expect(table.set("c", otherPeer), "another manager may use VNI 7 too")
    #expect(table.set("a", clash), "a splice may move its own VNIs")
    #expect(table.isFree(9, with: "198.51.100.2", on: .outside))
    table.remove("a")
    #expect(table.isFree(7, with: "10.0.0.1", on: .inside) && table.isFree(10, with: "198.51.100.2", on: .outside))
    #expect(table.route(vni: 7, from: "10.0.0.2", arrivingOn: .inside)?.vni == 11)
    #expect(table.route(vni: 7, from: "10.0.0.1", arrivingOn: .inside) == nil)
  }
}
