import Foundation
import NSMAPI
import NSMCore
import SwiftProtobuf
import Testing

/// Upstream's `updatepath` and `trimpath` (reference §4.1), the refresh schedule (§4.2) and the
/// monitor selector (§4.6).
@Suite("Connection paths")
struct PathUpdateTests {
  static func ids() -> () -> String {
    var next = 0
    return {
      next += 1
      return "id-\(next)"
    }
  }

  @Test func aNewPathGetsSegmentZeroWithTheConnectionsID() throws {
    var connection = Connection_Connection()
    connection.id = "client-id"
    let index = try PathUpdate.enter(&connection, name: "nsc")
    #expect(index == 0)
    #expect(connection.path.pathSegments.map(\.name) == ["nsc"])
    #expect(connection.path.pathSegments[0].id == "client-id")
    #expect(connection.id == "client-id")
  }

  @Test func eachHopGetsASegmentAndAnIDOfItsOwnAndTheAnswerIsRestored() throws {
    let newID = Self.ids()
    var connection = Connection_Connection()
    _ = try PathUpdate.enter(&connection, name: "nsc", newID: newID)
    let clientID = connection.id
    let managerIndex = try PathUpdate.enter(&connection, name: "nsmgr", newID: newID)
    #expect(managerIndex == 0)
    #expect(connection.path.index == 1)
    #expect(connection.id == "id-2")
    _ = try PathUpdate.enter(&connection, name: "nse", newID: newID)
    #expect(connection.path.pathSegments.map(\.name) == ["nsc", "nsmgr", "nse"])
    PathUpdate.restore(&connection, index: managerIndex)
    #expect(connection.id == clientID)
    #expect(connection.path.index == 0)
  }

  @Test func aRefreshKeepsEverySegmentsID() throws {
    let newID = Self.ids()
    var connection = Connection_Connection()
    _ = try PathUpdate.enter(&connection, name: "nsc", newID: newID)
    _ = try PathUpdate.enter(&connection, name: "nsmgr", newID: newID)
    _ = try PathUpdate.enter(&connection, name: "nse", newID: newID)
    PathUpdate.restore(&connection, index: 0)
    let before = connection.path.pathSegments.map(\.id)
    _ = try PathUpdate.enter(&connection, name: "nsc", newID: newID)
    _ = try PathUpdate.enter(&connection, name: "nsmgr", newID: newID)
    _ = try PathUpdate.enter(&connection, name: "nse", newID: newID)
    #expect(connection.path.pathSegments.map(\.id) == before)
  }

  @Test func aDifferentNextHopGetsAFreshSegmentAndTrimDropsTheRest() throws {
    let newID = Self.ids()
    var connection = Connection_Connection()
    for name in ["nsc", "nsmgr", "nse-old", "behind"] {
      _ = try PathUpdate.enter(&connection, name: name, newID: newID)
    }
    connection.path.index = 1
    connection.id = connection.path.pathSegments[1].id
    _ = try PathUpdate.enter(&connection, name: "nse-new", newID: newID)
    #expect(connection.path.pathSegments[2].name == "nse-new")
    #expect(connection.path.pathSegments[2].id == "id-5")
    PathUpdate.trim(&connection)
    #expect(connection.path.pathSegments.map(\.name) == ["nsc", "nsmgr", "nse-new"])
  }

  @Test func aConnectionIDThatIsNotItsSegmentsIsRefused() throws {
    var connection = Connection_Connection()
    _ = try PathUpdate.enter(&connection, name: "nsc")
    connection.id = "forged"
    let error = try #require(throws: NSMError.self) { try PathUpdate.enter(&connection, name: "nsmgr") }
    #expect(error.code == .invalidArgument)
    connection.path.index = 7
    #expect(throws: NSMError.self) { try PathUpdate.enter(&connection, name: "nsmgr") }
  }

  @Test func theClientRefreshesAtAFifthOfTheShortestSegmentLifetime() {
    let now = Date(timeIntervalSince1970: 1_000_000)
    var connection = Connection_Connection()
    connection.path.pathSegments = [600, 300, 600].map { seconds in
      .with { $0.expires = Google_Protobuf_Timestamp(date: now.addingTimeInterval(seconds)) }
    }
    #expect(RefreshSchedule.delay(for: connection, now: now) == .seconds(60))
    connection.path.pathSegments = [connection.path.pathSegments[0]]
    #expect(RefreshSchedule.delay(for: connection, now: now) == .seconds(200))
    connection.path.pathSegments[0].expires = Google_Protobuf_Timestamp(date: now.addingTimeInterval(-1))
    #expect(RefreshSchedule.delay(for: connection, now: now) == .nanoseconds(1))
  }

  @Test func monitorSelectorsMatchAContiguousRunOfSegments() {
    var connection = Connection_Connection()
    connection.networkService = "ns"
    connection.path.pathSegments = [("nsc", "1"), ("nsmgr", "2"), ("nse", "3")].map { name, id in
      .with {
        $0.name = name
        $0.id = id
      }
    }
    func selector(_ segments: [(String, String)], services: [String] = []) -> Connection_MonitorScopeSelector {
      .with {
        $0.pathSegments = segments.map { name, id in
          .with {
            $0.name = name
            $0.id = id
          }
        }
        $0.networkServices = services
      }
    }
    #expect(selector([]).matches(connection))
    #expect(selector([("nsc", "1")]).matches(connection))
    #expect(selector([("", "2"), ("nse", "")]).matches(connection))
    #expect(!selector([("nsc", "1"), ("nse", "3")]).matches(connection))
    #expect(!selector([("nsc", "9")]).matches(connection))
    #expect(selector([], services: ["ns"]).matches(connection))
    #expect(!selector([], services: ["other"]).matches(connection))
  }
}
