import NSMCore
import Testing

@Suite("RFC 2782 ordering")
struct SRVOrderTests {
  static func record(_ target: String, priority: UInt16, weight: UInt16) -> SRVRecord {
    SRVRecord(priority: priority, weight: weight, port: 1, target: target, ttl: 60)
  }

  @Test func lowerPriorityAlwaysComesFirst() {
    var generator = SeededGenerator(seed: 1)
    let records = [
      Self.record("c.", priority: 30, weight: 100), Self.record("a.", priority: 10, weight: 1),
      Self.record("b.", priority: 20, weight: 50), Self.record("a2.", priority: 10, weight: 1),
    ]
    for _ in 0..<100 {
      let ordered = SRVOrder.order(records, using: &generator).map(\.priority)
      #expect(ordered == [10, 10, 20, 30])
    }
  }

  @Test func firstPicksFollowTheWeights() {
    var generator = SeededGenerator(seed: 42)
    let records = [
      Self.record("t1.", priority: 0, weight: 60), Self.record("t2.", priority: 0, weight: 30),
      Self.record("t3.", priority: 0, weight: 10),
    ]
    let runs = 20_000
    var first: [String: Int] = [:]
    for _ in 0..<runs { first[SRVOrder.order(records, using: &generator)[0].target, default: 0] += 1 }
    // Each weight w of a total W is picked first with chance w/W (the draw is 0...W, so the
    // first target also takes the draw 0: a bias of 1/(W+1)).
    #expect(abs(Double(first["t1.", default: 0]) / Double(runs) - 0.60) < 0.02)
    #expect(abs(Double(first["t2.", default: 0]) / Double(runs) - 0.30) < 0.02)
    #expect(abs(Double(first["t3.", default: 0]) / Double(runs) - 0.10) < 0.02)
  }

  @Test func zeroWeightIsPickedFirstOnlyRarely() {
    var generator = SeededGenerator(seed: 7)
    let records = [Self.record("zero.", priority: 0, weight: 0), Self.record("heavy.", priority: 0, weight: 100)]
    var zeroFirst = 0
    for _ in 0..<10_000 where SRVOrder.order(records, using: &generator)[0].target == "zero." { zeroFirst += 1 }
    #expect(zeroFirst < 300)
    // All zero: every target still appears exactly once.
    let zeros = (0..<5).map { Self.record("z\($0).", priority: 0, weight: 0) }
    #expect(Set(SRVOrder.order(zeros, using: &generator).map(\.target)).count == 5)
  }

  @Test func theSameSeedGivesTheSameOrder() {
    let records = (0..<8).map { Self.record("t\($0).", priority: UInt16($0 % 2), weight: UInt16($0 * 10)) }
    var a = SeededGenerator(seed: 99)
    var b = SeededGenerator(seed: 99)
    #expect(SRVOrder.order(records, using: &a) == SRVOrder.order(records, using: &b))
  }

  @Test func zoneRecordsForAnAddressAndAHostName() throws {
    let lines = try ZoneRecords.lines(
      domain: "c.nsm.test",
      registry: try ZoneRecords.Endpoint(parsing: "127.0.0.1:5032"),
      proxy: try ZoneRecords.Endpoint(parsing: "gw.example.com:5034"),
      ttl: 60
    )
    #expect(lines.contains("_nsm-registry._tcp.c.nsm.test. 60 IN SRV 0 0 5032 registry.nsm-system.c.nsm.test."))
    #expect(lines.contains("registry.nsm-system.c.nsm.test. 60 IN A 127.0.0.1"))
    #expect(lines.contains("_nsm-proxy._tcp.c.nsm.test. 60 IN SRV 0 0 5034 gw.example.com."))
    #expect(throws: NSMError.self) { try ZoneRecords.Endpoint(parsing: "no-port") }
    #expect(throws: NSMError.self) {
      try ZoneRecords.lines(
        domain: "1.2.3.4:5",
        registry: try ZoneRecords.Endpoint(parsing: "1.2.3.4:5"),
        proxy: nil,
        ttl: 1
      )
    }
  }
}
