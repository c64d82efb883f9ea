import Foundation
import Logging
import NSMAPI
import NSMConnect
import NSMCore
import NSMTesting
import SwiftProtobuf
import Synchronization
import Testing

/// Chain elements in process, with a recording end and a clock the test moves.
@Suite("Connect elements")
struct ElementTests {
  /// Records what reaches the end of a chain; a Request can be made to take a while.
  final class Recorder: ConnectElement {
    struct State {
      var running = 0
      var mostAtOnce = 0
      var closed: [String] = []
    }

    let state = Mutex(State())
    let requestTime: Duration

    init(requestTime: Duration = .zero) {
      self.requestTime = requestTime
    }

    func request<Next: ConnectHandler>(
      _ request: Networkservice_NetworkServiceRequest,
      context: ConnectContext,
      next: Next
    ) async throws -> Connection_Connection {
      state.withLock {
        $0.running += 1
        $0.mostAtOnce = max($0.mostAtOnce, $0.running)
      }
      defer { state.withLock { $0.running -= 1 } }
      if requestTime > .zero { try await Task.sleep(for: requestTime) }
      return try await next.request(request, context: context)
    }

    func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
      async throws
    {
      state.withLock { $0.closed.append(connection.id) }
      try await next.close(connection, context: context)
    }
  }

  static let logger = Logger(label: "test")

  /// What a manager's chain receives from a client: the client's segment, expiring at `expires`.
  static func request(id: String, expires: Date) -> Networkservice_NetworkServiceRequest {
    .with {
      $0.connection.id = id
      $0.connection.networkService = "ns"
      $0.connection.path.pathSegments = [
        .with {
          $0.name = "nsc"
          $0.id = id
          $0.expires = Google_Protobuf_Timestamp(date: expires)
        }
      ]
    }
  }

  @Test func requestsAndClosesOfOneConnectionNeverOverlap() async throws {
    let recorder = Recorder(requestTime: .milliseconds(20))
    let chain = ConnectChain {
      UpdatePathElement(name: "nsmgr")
      BeginElement()
      recorder
    }
    // Refreshes: the path already holds this hop's segment, so they are one connection here.
    var first = Self.request(id: "c-1", expires: Date().addingTimeInterval(60))
    first.connection.path = try await chain.request(first, context: ConnectContext(logger: Self.logger)).path
    let request = first
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<5 {
        group.addTask { _ = try await chain.request(request, context: ConnectContext(logger: Self.logger)) }
      }
      try await group.waitForAll()
    }
    #expect(recorder.state.withLock { $0.mostAtOnce } == 1)

    // Different connections run side by side.
    let other = Recorder(requestTime: .milliseconds(50))
    let wide = ConnectChain {
      UpdatePathElement(name: "nsmgr")
      BeginElement()
      other
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
      for index in 0..<4 {
        let request = Self.request(id: "c-\(index)", expires: Date().addingTimeInterval(60))
        group.addTask { _ = try await wide.request(request, context: ConnectContext(logger: Self.logger)) }
      }
      try await group.waitForAll()
    }
    #expect(other.state.withLock { $0.mostAtOnce } > 1)
  }

  @Test func aConnectionNotRefreshedIsClosedWhenThePreviousSegmentExpires() async throws {
    let time = ManualTime()
    let recorder = Recorder()
    let chain = ConnectChain {
      UpdatePathElement(name: "nsmgr")
      BeginElement()
      TokenElement(identity: nil, maxTokenLifetime: .seconds(600), time: time)
      TimeoutElement(time: time)
      recorder
    }
    let answer = try await chain.request(
      Self.request(id: "c-1", expires: time.date.addingTimeInterval(10)),
      context: ConnectContext(logger: Self.logger)
    )
    try await time.waitForSleepers(1)
    time.advance(by: .seconds(5))
    // A refresh at 5 s whose client segment now expires at 20 s moves the expiry.
    var refresh = Self.request(id: "c-1", expires: time.date.addingTimeInterval(15))
    refresh.connection.path = answer.path
    refresh.connection.path.pathSegments[0].expires = Google_Protobuf_Timestamp(date: time.date.addingTimeInterval(15))
    _ = try await chain.request(refresh, context: ConnectContext(logger: Self.logger))
    try await time.waitForSleepers(1)
    time.advance(by: .seconds(6))
    try await Task.sleep(for: .milliseconds(50))
    #expect(recorder.state.withLock { $0.closed }.isEmpty, "refreshed: the first expiry no longer applies")
    time.advance(by: .seconds(10))
    let closed = await eventually { recorder.state.withLock { !$0.closed.isEmpty } }
    #expect(closed)
    #expect(recorder.state.withLock { $0.closed.count } == 1)
  }

  @Test func anExpiryFurtherOutThanTheHopAllowsIsCapped() async throws {
    let time = ManualTime()
    let chain = ConnectChain {
      UpdatePathElement(name: "nsmgr")
      TokenElement(identity: nil, maxTokenLifetime: .seconds(30), time: time)
    }
    let answer = try await chain.request(
      Self.request(id: "c-1", expires: time.date.addingTimeInterval(86_400)),
      context: ConnectContext(logger: Self.logger)
    )
    let expires = answer.path.pathSegments.map { $0.expires.date.timeIntervalSince(time.date) }
    #expect(expires.allSatisfy { $0 <= 30.5 }, "\(expires)")
  }

  @Test func ipamKeepsAPairPerConnectionAndFreesItOnClose() async throws {
    let ipam = IPAMElement(prefix: try IPPrefix(parsing: "10.1.0.0/30"))
    let chain = ConnectChain {
      UpdatePathElement(name: "nse")
      ipam
    }
    let context = ConnectContext(logger: Self.logger)
    let first = try await chain.request(Self.request(id: "a", expires: Date()), context: context)
    #expect(first.context.ipContext.srcIpAddrs == ["10.1.0.2/32"])
    #expect(first.context.ipContext.dstIpAddrs == ["10.1.0.1/32"])
    var refresh = Self.request(id: "a", expires: Date())
    refresh.connection.path = first.path
    #expect(try await chain.request(refresh, context: context).context == first.context)
    await #expect(throws: NSMError.self) {
      _ = try await chain.request(Self.request(id: "b", expires: Date()), context: context)
    }
    try await chain.close(first, context: context)
    #expect(ipam.allocatedCount == 0)
    #expect(try await chain.request(Self.request(id: "b", expires: Date()), context: context).context == first.context)
  }
}

/// VNIs are unique per node, and an offer from the other node is taken when free here.
@Suite("VNI allocation")
struct VNIAllocationTests {
  @Test func vnisAreUniquePerNodeKeptPerConnectionAndOffersAreTakenWhenFree() throws {
    let vnis = VNIAllocator()
    let a = try vnis.allocate(source: "10.0.0.1", connection: "a")
    #expect(try vnis.allocate(source: "10.0.0.1", connection: "a") == a, "kept across refreshes")
    let b = try vnis.allocate(source: "10.0.0.2", connection: "b")
    #expect(a != b, "unique on the node, whatever the source")
    #expect(try vnis.allocate(source: "10.0.0.3", connection: "c", wanted: 4242) == 4242, "a free offer is taken")
    #expect(try vnis.allocate(source: "10.0.0.4", connection: "d", wanted: 4242) != 4242, "a used one is not")
    // The starting side: its offer, then what the other node chose.
    let offer = try vnis.reserve(connection: "out:e")
    #expect(offer != a && offer != b && offer != 4242)
    #expect(vnis.adopt(offer, connection: "out:e"))
    #expect(!vnis.adopt(4242, connection: "out:f"), "a VNI in use here cannot be adopted")
    vnis.release(connection: "c")
    #expect(vnis.adopt(4242, connection: "out:f"))
  }
}

/// A supplier starts nothing for a request that lacks what its command needs, or carries a
/// value a command line cannot take.
@Suite("Supplier")
struct SupplierTests {
  static func request(_ labels: [String: String]) -> Networkservice_NetworkServiceRequest {
    .with {
      $0.connection.id = "s-1"
      $0.connection.labels = labels
    }
  }

  @Test func aMissingOrUnsafeLabelIsInvalidArgumentAndStartsNothing() async throws {
    let supplier = SupplierElement(template: "/bin/true --node {{ .nodeName }}")
    let chain = ConnectChain { supplier }
    let context = ConnectContext(logger: Logger(label: "test"))
    let missing = try await #require(throws: NSMError.self) {
      _ = try await chain.request(Self.request([:]), context: context)
    }
    #expect(missing.code == .invalidArgument)
    #expect(missing.message.contains("nodeName"))
    let unsafe = try await #require(throws: NSMError.self) {
      _ = try await chain.request(Self.request(["nodeName": "n; rm -rf /"]), context: context)
    }
    #expect(unsafe.code == .invalidArgument)
    #expect(supplier.runningCount == 0)
    // A label the command does not use may hold anything.
    let started = try await #require(throws: NSMError.self) {
      _ = try await chain.request(Self.request(["nodeName": "node-1", "other": "a b;c"]), context: context)
    }
    #expect(started.code == .unavailable)
    #expect(started.message.contains("endpoint created as '/bin/true --node node-1'"))
  }
}
