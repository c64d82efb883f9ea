import Foundation
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import SwiftProtobuf
import Testing

/// The registry reads the time from its configured clock: leases and expiry are tested by
/// moving a manual clock, not by sleeping.
@Suite("registry: time from its clock")
struct ClockTests {
  @Test func aLeaseRunsOutWhenTheClockSaysSo() async throws {
    let time = ManualTime()
    try await TestRegistry.run {
      $0.time = time
      $0.expirePeriod = .seconds(60)
      $0.reapInterval = .seconds(1)
    } _: { registry in
      try await registry.withClient { client in
        let stored = try await client.register(Fixtures.endpoint("nse-1"))
        #expect(stored.expirationTime == Google_Protobuf_Timestamp(date: time.date.addingTimeInterval(60)))
        #expect(stored.initialRegistrationTime == Google_Protobuf_Timestamp(date: time.date))
        try await client.watch(Registry_NetworkServiceEndpoint()) { events in
          #expect(try await events.next()?.networkServiceEndpoint.name == "nse-1")
          time.advance(by: .seconds(59))
          #expect(await eventually { registry.endpoints.count == 1 })
          time.advance(by: .seconds(2))
          let deleted = try #require(try await events.next())
          #expect(deleted.deleted)
          #expect(deleted.networkServiceEndpoint.name == "nse-1")
        }
        #expect(registry.endpoints.count == 0)
      }
    }
  }
}
