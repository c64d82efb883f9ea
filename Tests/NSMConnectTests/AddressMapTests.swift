import Foundation
import Logging
import NSMAPI
import NSMCore
import Synchronization
import Testing

@testable import NSMConnect

/// `--map-ip-file`: upstream's `internal: external` YAML, and what a gateway tells the other
/// domain with it (reference §4.3, swapip).
@Suite("Address map (--map-ip-file)")
struct AddressMapTests {
  static let logger = Logger(label: "test")

  func withFile<Result>(_ text: String, _ body: (String) throws -> Result) throws -> Result {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("map-ip-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
  }

  @Test func upstreamsFormatIsReadWithOneSpellingPerAddress() throws {
    let map = try AddressMap.parse(
      """
      # cmd-map-ip-k8s writes node and pod addresses
      10.0.0.5: 203.0.113.5
      "172.16.0.9": 172.16.0.9
      2001:db8:0:0::1: 2001:db8:ffff::0001
      """,
      file: "map.yaml"
    )
    #expect(map == ["10.0.0.5": "203.0.113.5", "172.16.0.9": "172.16.0.9", "2001:db8::1": "2001:db8:ffff::1"])
    #expect(try AddressMap.parse("", file: "empty.yaml").isEmpty)
  }

  @Test(arguments: [
    ("10.0.0.5: node-1", "'node-1' (for 10.0.0.5) is not an IP address"),
    ("node-1: 10.0.0.5", "'node-1' is not an IP address"),
    ("- 10.0.0.5", "must be a map"),
    ("10.0.0.5: [1, 2]", "every entry must be 'internal: external'"),
  ])
  func aBadFileIsRefusedNamingTheEntry(_ text: String, _ message: String) {
    #expect {
      try AddressMap.parse(text, file: "map.yaml")
    } throws: { error in
      guard let error = error as? NSMError else { return false }
      return error.code == .invalidArgument && error.message.contains(message) && error.message.contains("map.yaml")
    }
  }

  @Test func aMissingFileIsRefused() {
    #expect(throws: NSMError.self) { try AddressMap(path: "/nonexistent/map-ip.yaml", logger: Self.logger) }
  }

  @Test func aChangedFileIsReadAgainAndABrokenOneKeepsTheLastGoodMap() throws {
    try withFile("10.0.0.5: 203.0.113.5\n") { path in
      let map = try AddressMap(path: path, logger: Self.logger)
      #expect(map.external(for: "10.0.0.5") == "203.0.113.5")
      #expect(map.told("10.0.0.6") == "10.0.0.6")

      try "10.0.0.5: 203.0.113.50\n10.0.0.6: 203.0.113.6\n".write(toFile: path, atomically: true, encoding: .utf8)
      try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)], ofItemAtPath: path)
      #expect(map.external(for: "10.0.0.5") == "203.0.113.50")
      #expect(map.external(for: "10.0.0.6") == "203.0.113.6")

      try "10.0.0.5: [".write(toFile: path, atomically: true, encoding: .utf8)
      try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(10)], ofItemAtPath: path)
      #expect(map.external(for: "10.0.0.6") == "203.0.113.6")
    }
  }

  /// The next hop as the swap element sees it: what it was offered, answered with a tunnel.
  final class NextHopStub: ConnectElement {
    let offered = Mutex<[String]>([])
    let answerAddress: String

    init(answerAddress: String) { self.answerAddress = answerAddress }

    func request<Next: ConnectHandler>(
      _ request: Networkservice_NetworkServiceRequest,
      context: ConnectContext,
      next: Next
    ) async throws -> Connection_Connection {
      let source = request.mechanismPreferences.first?.parameters[Mechanisms.Key.srcIP] ?? "-"
      offered.withLock { $0.append(source) }
      var answer = request.connection
      answer.mechanism = request.mechanismPreferences.first ?? Connection_Mechanism()
      answer.mechanism.parameters[Mechanisms.Key.dstIP] = answerAddress
      return answer
    }

    func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
      async throws
    {}
  }

  func context(_ crossing: DomainCrossing) -> ConnectContext {
    var context = ConnectContext(logger: Self.logger)
    context.crossing = crossing
    return context
  }

  func request(to endpoint: String, source: String) -> Networkservice_NetworkServiceRequest {
    .with {
      $0.connection.id = "c-1"
      $0.connection.networkServiceEndpointName = endpoint
      $0.mechanismPreferences = [Mechanisms.vxlan(sourceIP: source)]
    }
  }

  /// One Request through the swap element to a next hop that answers with `address`: the
  /// source addresses the next hop was offered, and the answer the previous hop gets.
  func swapping(
    _ map: AddressMap,
    _ crossing: DomainCrossing,
    to endpoint: String,
    source: String,
    answeredBy address: String
  ) async throws -> (offered: [String], answer: Connection_Connection) {
    let next = NextHopStub(answerAddress: address)
    let chain = ConnectChain {
      AddressSwapElement(map: map)
      next
    }
    let answer = try await chain.request(request(to: endpoint, source: source), context: context(crossing))
    return (next.offered.withLock { $0 }, answer)
  }

  @Test func eachManagerKeepsItsOwnAddressAndIsToldTheOthersExternalOne() async throws {
    let text = "10.0.1.1: 198.51.100.1\n10.0.2.2: 198.51.100.2\n"
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("map-ip-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let map = try AddressMap(path: path, logger: Self.logger)

    // Going out of domain a: the offer leaves with a's external address, the answer comes back
    // with the manager's own, and the other side's (already external) address as it is.
    let (offered, answer) = try await swapping(
      map,
      .outward,
      to: "nse@b.example",
      source: "10.0.1.1",
      answeredBy: "203.0.113.9"
    )
    #expect(offered == ["198.51.100.1"])
    #expect(answer.mechanism.parameters[Mechanisms.Key.srcIP] == "10.0.1.1")
    #expect(answer.mechanism.parameters[Mechanisms.Key.dstIP] == "203.0.113.9")

    // Coming into domain a: the offer goes on as it came, the manager's answer leaves mapped.
    let (offeredIn, back) = try await swapping(map, .inward, to: "nse", source: "203.0.113.9", answeredBy: "10.0.2.2")
    #expect(offeredIn == ["203.0.113.9"])
    #expect(back.mechanism.parameters[Mechanisms.Key.dstIP] == "198.51.100.2")
    #expect(back.mechanism.parameters[Mechanisms.Key.srcIP] == "203.0.113.9")
  }
}
