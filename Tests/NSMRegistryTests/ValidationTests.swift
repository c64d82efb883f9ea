import Foundation
import GRPCCore
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import SwiftProtobuf
import Testing

/// Every bad input gets INVALID_ARGUMENT naming the field, and leaves the store as it was.
@Suite("Bad input is refused and changes nothing", .timeLimit(.minutes(1)))
struct ValidationTests {
  struct Bad<Record: Sendable>: Sendable, CustomTestStringConvertible {
    let title: String
    let record: Record
    let mentions: String
    var testDescription: String { title }
  }

  static let existing = Fixtures.endpoint("nse-1", services: ["ns-1"])

  static let badEndpoints: [Bad<Registry_NetworkServiceEndpoint>] = [
    Bad(title: "empty name", record: Fixtures.endpoint(""), mentions: "network_service_endpoint.name"),
    Bad(title: "name with a space", record: Fixtures.endpoint("nse 1"), mentions: "network_service_endpoint.name"),
    Bad(title: "name with two @", record: Fixtures.endpoint("nse@a@b"), mentions: "more than one '@'"),
    Bad(
      title: "name with a bad domain",
      record: Fixtures.endpoint("nse@bad_domain!"),
      mentions: "network_service_endpoint.name"
    ),
    Bad(
      title: "name too long",
      record: Fixtures.endpoint(String(repeating: "n", count: 254)),
      mentions: "limit is 253"
    ),
    Bad(
      title: "bad service name",
      record: Fixtures.endpoint("nse-1", services: ["ns/1"]),
      mentions: "network_service_names[0]"
    ),
    Bad(
      title: "label key too long",
      record: Fixtures.endpoint("nse-1", labels: ["ns-1": [String(repeating: "k", count: 254): "v"]]),
      mentions: "network_service_labels[ns-1]"
    ),
    Bad(
      title: "label value too long",
      record: Fixtures.endpoint("nse-1", labels: ["ns-1": ["k": String(repeating: "v", count: 1025)]]),
      mentions: "network_service_labels[ns-1][k]"
    ),
    Bad(
      title: "too many labels",
      record: Fixtures.endpoint(
        "nse-1",
        labels: ["ns-1": Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })]
      ),
      mentions: "limit is 64"
    ),
    Bad(
      title: "expiration in the past",
      record: Fixtures.endpoint("nse-1", expiresIn: -5),
      mentions: "expiration_time"
    ),
    Bad(
      title: "message over the size limit",
      record: Fixtures.endpoint(
        "nse-1",
        services: ["ns-1", "ns-2"],
        labels: [
          "ns-1": Dictionary(uniqueKeysWithValues: (0..<40).map { ("k\($0)", String(repeating: "v", count: 1000)) }),
          "ns-2": Dictionary(uniqueKeysWithValues: (0..<40).map { ("k\($0)", String(repeating: "w", count: 1000)) }),
        ]
      ),
      mentions: "limit is 65536"
    ),
  ]

  @Test(arguments: badEndpoints)
  func badEndpoint(_ bad: Bad<Registry_NetworkServiceEndpoint>) async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        let stored = try await client.register(Self.existing)
        let message = await expectStatus(.invalidArgument) { _ = try await client.register(bad.record) }
        #expect(message.contains(bad.mentions), "message: \(message)")
        #expect(try await client.find(Registry_NetworkServiceEndpoint()) == [stored])
      }
    }
  }

  /// The record limit is checked on the size a request arrived in (no second encoding to
  /// measure it): the number named is the message's encoded size, for a Register and for a
  /// Find (whose query wraps the template).
  @Test func aRequestOverTheRecordLimitIsRefusedNamingItsSize() async throws {
    let big = Fixtures.endpoint(
      "nse-1",
      labels: [
        "ns-1": Dictionary(uniqueKeysWithValues: (0..<70).map { ("k\($0)", String(repeating: "v", count: 1000)) })
      ]
    )
    let size = try (big.serializedBytes() as [UInt8]).count
    let query = Registry_NetworkServiceEndpointQuery.with { $0.networkServiceEndpoint = big }
    let querySize = try (query.serializedBytes() as [UInt8]).count
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        let registered = await expectStatus(.invalidArgument) { _ = try await client.register(big) }
        #expect(registered.contains("the network service endpoint is \(size) bytes encoded; the limit is 65536"))
        let found = await expectStatus(.invalidArgument) { _ = try await client.find(big) }
        #expect(
          found.contains("the network service endpoint query is \(querySize) bytes encoded; the limit is 65536"),
          "\(found)"
        )
        #expect(registry.endpoints.count == 0)
      }
    }
  }

  static let badServices: [Bad<Registry_NetworkService>] = [
    Bad(title: "empty name", record: Fixtures.service(""), mentions: "network_service.name"),
    Bad(title: "control character", record: Fixtures.service("ns\u{7}"), mentions: "U+0007"),
    Bad(title: "unknown payload", record: Fixtures.service("ns-1", payload: "L2"), mentions: "network_service.payload"),
    Bad(
      title: "selector label key empty",
      record: .with {
        $0.name = "ns-1"
        $0.matches = [.with { $0.sourceSelector = ["": "x"] }]
      },
      mentions: "matches[0].source_selector"
    ),
    Bad(
      title: "destination selector value too long",
      record: .with {
        $0.name = "ns-1"
        $0.matches = [
          .with { $0.routes = [.with { $0.destinationSelector = ["k": String(repeating: "v", count: 2000)] }] }
        ]
      },
      mentions: "matches[0].routes[0].destination_selector"
    ),
  ]

  @Test(arguments: badServices)
  func badNetworkService(_ bad: Bad<Registry_NetworkService>) async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        let stored = try await client.register(Fixtures.service("ns-1", payload: "ETHERNET"))
        let message = await expectStatus(.invalidArgument) { _ = try await client.register(bad.record) }
        #expect(message.contains(bad.mentions), "message: \(message)")
        #expect(try await client.find(Registry_NetworkService()) == [stored])
      }
    }
  }

  @Test func unregisterWithoutANameIsRefused() async throws {
    try await TestRegistry.run { registry in
      try await registry.withClient { client in
        _ = try await client.register(Self.existing)
        await expectStatus(.invalidArgument) { try await client.unregister(Fixtures.endpoint("")) }
        await expectStatus(.invalidArgument) { try await client.unregister(Fixtures.service("")) }
        #expect(registry.endpoints.count == 1)
      }
    }
  }

  /// Above the server's request limit the request never reaches the registry: the server
  /// answers that call alone with RESOURCE_EXHAUSTED (the transport by itself would reset the
  /// stream, which clients report as CANCELLED or UNAVAILABLE).
  @Test func oversizedFrameIsRefusedByTheTransport() async throws {
    try await TestRegistry.run { configuration in
      configuration.maxRequestBytes = 128 * 1024
    } _: { registry in
      try await registry.withClient { client in
        let huge = Fixtures.endpoint("nse-1", url: String(repeating: "u", count: 200 * 1024))
        await expectStatus(.resourceExhausted) { _ = try await client.register(huge) }
        #expect(registry.endpoints.count == 0)
        // The connection stays usable.
        _ = try await client.register(Self.existing)
        #expect(registry.endpoints.count == 1)
      }
    }
  }
}
