import Foundation
import GRPCCore
import NSMAPI
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import SwiftProtobuf
import Testing

@Suite("Register, Find, Unregister over gRPC", .timeLimit(.minutes(1)))
struct RegisterFindUnregisterTests {
  @Test func networkServiceRoundTrip() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        let stored = try await client.register(Fixtures.service("ns-1"))
        #expect(stored.name == "ns-1")
        #expect(stored.payload == "IP", "an empty payload defaults to IP")

        let ethernet = try await client.register(Fixtures.service("ns-2", payload: "ETHERNET"))
        #expect(ethernet.payload == "ETHERNET")

        #expect(try await client.find(Fixtures.service("ns-1")) == [stored])
        #expect(try await client.find(Registry_NetworkService()).map(\.name) == ["ns-1", "ns-2"])

        try await client.unregister(Fixtures.service("ns-1"))
        #expect(try await client.find(Fixtures.service("ns-1")).isEmpty)
        #expect(registry.networkServices.count == 1)
      }
    }
  }

  @Test func registerIsAnUpsertByName() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Fixtures.service("ns-1"))
        var changed = Fixtures.service("ns-1", payload: "ETHERNET")
        changed.matches = [.with { $0.sourceSelector = ["app": "foo"] }]
        let stored = try await client.register(changed)
        #expect(try await client.find(Fixtures.service("ns-1")) == [stored])
        #expect(stored.matches.first?.sourceSelector == ["app": "foo"])
        #expect(registry.networkServices.count == 1)
      }
    }
  }

  @Test func unregisterOfAnUnknownNameSucceeds() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        try await client.unregister(Fixtures.service("never-registered"))
        try await client.unregister(Fixtures.endpoint("never-registered"))
      }
    }
  }

  @Test func endpointRegistrationIsALease() async throws {
    try await TestRegistry.run { configuration in
      configuration.expirePeriod = .seconds(60)
    } _: { registry in
      try await registry.withClient { client in
        let before = Date()
        let first = try await client.register(Fixtures.endpoint("nse-1"))
        let after = Date()
        #expect(first.hasInitialRegistrationTime)
        #expect(first.hasExpirationTime)
        // The registry caps the lease at now + expire period.
        #expect(first.expirationTime.date >= before.addingTimeInterval(59))
        #expect(first.expirationTime.date <= after.addingTimeInterval(60))

        // A shorter requested expiration wins over the period.
        let requested = Date().addingTimeInterval(10)
        var shorter = Fixtures.endpoint("nse-2")
        shorter.expirationTime = Google_Protobuf_Timestamp(date: requested)
        let second = try await client.register(shorter)
        #expect(abs(second.expirationTime.date.timeIntervalSince(requested)) < 0.001)

        // A longer one is cut to the period.
        let third = try await client.register(Fixtures.endpoint("nse-3", expiresIn: 3600))
        #expect(third.expirationTime.date <= Date().addingTimeInterval(60))
      }
    }
  }

  @Test func refreshKeepsTheInitialRegistrationTime() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        let first = try await client.register(Fixtures.endpoint("nse-1"))
        try await Task.sleep(for: .milliseconds(20))
        var refresh = Fixtures.endpoint("nse-1", url: "tcp://10.0.0.2:5001")
        // What the client claims is ignored.
        refresh.initialRegistrationTime = Google_Protobuf_Timestamp(seconds: 1)
        let second = try await client.register(refresh)
        #expect(second.initialRegistrationTime == first.initialRegistrationTime)
        #expect(second.url == "tcp://10.0.0.2:5001")
        #expect(second.expirationTime.date > first.expirationTime.date)
        #expect(try await client.find(Fixtures.endpoint("nse-1", services: [], url: "")) == [second])
      }
    }
  }

  @Test func endpointRoundTripKeepsEveryField() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        var nse = Fixtures.endpoint(
          "nse-1",
          services: ["ns-a", "ns-b"],
          labels: ["ns-a": ["app": "firewall", "nodeName": "node-1"], "ns-b": [:]],
          url: "unix:///var/lib/nsm/nse.sock"
        )
        nse.pathIds = ["spiffe://a.example/nse", "spiffe://a.example/nsmgr"]
        let stored = try await client.register(nse)
        var expected = nse
        expected.expirationTime = stored.expirationTime
        expected.initialRegistrationTime = stored.initialRegistrationTime
        #expect(stored == expected)
        let found = try await client.find(Registry_NetworkServiceEndpoint())
        #expect(found == [stored])

        try await client.unregister(Fixtures.endpoint("nse-1"))
        #expect(try await client.find(Registry_NetworkServiceEndpoint()).isEmpty)
      }
    }
  }
}
