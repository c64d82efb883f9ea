import Foundation
import GRPCCore
import Logging
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Synchronization
import Testing

/// The connections to peers: callers name the addresses, so the pool must not let one caller's
/// dead or mute addresses crowd out the peers everyone else uses.
@Suite("transport: peer pool")
struct PeerPoolTests {
  /// Runs `pool` as its service for the duration of `body`.
  static func running<Result: Sendable>(
    _ pool: PeerPool,
    _ body: () async throws -> Result
  ) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await pool.run() }
      defer { group.cancelAll() }
      return try await body()
    }
  }

  static func pool(_ configure: (inout PeerPool.Limits) -> Void = { _ in }, time: any TimeSource = SystemTime())
    -> PeerPool
  {
    var limits = PeerPool.Limits()
    configure(&limits)
    return PeerPool(logger: Logger(label: "test-pool"), limits: limits, time: time)
  }

  final class Box: Sendable {
    private let value = Mutex<PeerConnection?>(nil)
    var connection: PeerConnection? {
      get { value.withLock { $0 } }
      set { value.withLock { $0 = newValue } }
    }
  }

  /// A gate a task waits at until the test opens it.
  final class Gate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream() }
    func wait() async { for await _ in stream { return } }
    func open() { continuation.yield() }
  }

  /// A connection retired while in use keeps its own count: the call still on it ending must
  /// not count against the connection that replaced it (which would then be closed as idle in
  /// the middle of a call).
  @Test func aRetiredConnectionsCallsDoNotCountAgainstItsReplacement() async throws {
    try await TestRegistry.run { peer in
      let time = ManualTime()
      let pool = Self.pool({ $0.idleTimeout = .seconds(1) }, time: time)
      try await Self.running(pool) {
        let (first, second) = (Gate(), Gate())
        let (firstIn, secondIn) = (Gate(), Gate())
        let old = Box()
        try await withThrowingTaskGroup(of: Void.self) { calls in
          calls.addTask {
            try await pool.withConnection(to: peer.address, caller: "test") { connection in
              old.connection = connection
              firstIn.open()
              await first.wait()
            }
          }
          await firstIn.wait()
          let retired = try #require(old.connection)
          pool.retire(retired)
          calls.addTask {
            try await pool.withConnection(to: peer.address, caller: "test") { connection in
              #expect(connection !== retired, "a retired connection takes no new calls")
              secondIn.open()
              await second.wait()
            }
          }
          await secondIn.wait()
          first.open()
          #expect(await eventually { pool.connectionCount == 1 }, "the retired connection closes with its last call")
          // Well past the idle timeout: the connection in use must stay.
          try await time.waitForSleepers()
          time.advance(by: .seconds(15))
          try await time.waitForSleepers()
          #expect(pool.connectionCount == 1)
          second.open()
          try await calls.waitForAll()
        }
        time.advance(by: .seconds(15))
        #expect(await eventually { pool.connectionCount == 0 }, "idle now: closed")
      }
    }
  }

  /// Addresses that do not answer are dropped at once and never count as peers: 50 of them do
  /// not keep out real peers, and only answering peers meet the cap, with RESOURCE_EXHAUSTED.
  @Test func onlyPeersThatAnswerCountAndDeadOnesAreDropped() async throws {
    let pool = Self.pool { $0.maxPeers = 2 }
    try await Self.running(pool) {
      for _ in 0..<50 {
        let dead = ServiceAddress.tcp(host: "127.0.0.1", port: try freeLoopbackPort())
        let message = await expectStatus(.unavailable) {
          try await pool.withConnection(to: dead, caller: "test") { _ in }
        }
        #expect(message.contains("cannot connect"), "the reason is given: \(message)")
      }
      #expect(pool.connectionCount == 0)
      #expect(pool.peerCount == 0)
      try await TestRegistry.run { one in
        try await TestRegistry.run { two in
          try await TestRegistry.run { three in
            try await pool.withConnection(to: one.address, caller: "test") { _ in }
            try await pool.withConnection(to: two.address, caller: "test") { _ in }
            #expect(pool.peerCount == 2)
            let message = await expectStatus(.resourceExhausted) {
              try await pool.withConnection(to: three.address, caller: "test") { _ in }
            }
            #expect(message.contains("too many peers"))
          }
        }
      }
    }
  }

  /// Connections still being established are bounded per caller: one caller naming mute
  /// addresses is refused beyond its share, and others still reach their peers.
  @Test func aCallerNamingMuteAddressesCannotCrowdOutOthers() async throws {
    let pool = Self.pool {
      $0.maxConnectingPerCaller = 3
      $0.connectTimeout = .seconds(60)
    }
    let mute = try (0..<4).map { _ in try SilentListener() }
    try await Self.running(pool) {
      try await TestRegistry.run { peer in
        try await withThrowingTaskGroup(of: Void.self) { stuck in
          for listener in mute.prefix(3) {
            stuck.addTask {
              try await pool.withConnection(to: .tcp(host: "127.0.0.1", port: listener.port), caller: "mallory") { _ in
              }
            }
          }
          #expect(await eventually { pool.connectionCount == 3 })
          let message = await expectStatus(.resourceExhausted) {
            try await pool.withConnection(to: .tcp(host: "127.0.0.1", port: mute[3].port), caller: "mallory") { _ in }
          }
          #expect(message.contains("mallory"))
          try await pool.withConnection(to: peer.address, caller: "alice") { _ in }
          stuck.cancelAll()
        }
      }
    }
  }

  /// A peer queues calls beyond its SETTINGS_MAX_CONCURRENT_STREAMS silently; the pool opens
  /// another connection instead of queueing a long-lived watch behind the others.
  @Test func aConnectionCarriesAtMostItsShareOfCalls() async throws {
    let pool = Self.pool { $0.streamsPerConnection = 3 }
    try await Self.running(pool) {
      try await TestRegistry.run { peer in
        let release = Gate()
        let inside = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { calls in
          for _ in 0..<7 {
            calls.addTask {
              try await pool.withConnection(to: peer.address, caller: "test") { _ in
                inside.continuation.yield()
                await release.wait()
              }
            }
          }
          var count = 0
          for await _ in inside.stream {
            count += 1
            if count == 7 { break }
          }
          #expect(pool.connectionCount == 3)
          #expect(pool.peerCount == 1)
          for _ in 0..<7 { release.open() }
          try await calls.waitForAll()
        }
      }
    }
  }

  /// An mTLS connection whose handshake fails says why, instead of "did not complete".
  @Test func aFailedTLSHandshakeGivesItsReason() async throws {
    let pki = try TestPKI(trustDomains: ["nsm.a"])
    let pool = PeerPool(logger: Logger(label: "test-pool"), identity: try pki.identity("spiffe://nsm.a/registry"))
    try await Self.running(pool) {
      // A plaintext server: the TLS client hello gets an HTTP/2 answer it cannot read.
      try await TestRegistry.run { plaintext in
        let message = await expectStatus(.unavailable) {
          try await pool.withConnection(to: plaintext.address, caller: "test") { _ in }
        }
        #expect(message.contains("TLS handshake did not complete: "), "\(message)")
        #expect(message.count > "TLS handshake did not complete: ".count + 5)
        #expect(pool.connectionCount == 0)
      }
    }
  }
}
