import Foundation
import NSMAPI
import NSMCore
import NSMRegistry
import NSMStore
import NSMTesting
import NSMTransport
import Testing

/// Connections that never become useful are closed, and there is a ceiling on how many a
/// server holds: 2,000 mute connections once held 117 MB and 2,000 descriptors for good.
@Suite("transport: connection limits")
struct ConnectionLimitTests {
  @Test func aConnectionThatNeverCompletesItsHandshakeIsClosed() async throws {
    try await TestRegistry.run { configuration in
      configuration.limits.handshakeTimeout = .seconds(2)
    } _: { registry in
      let port = try port(of: registry.address)
      let mute = try (0..<20).map { _ in try RawConnection(port: port) }
      let halfway = try RawConnection(port: port)
      // The preface alone, without the SETTINGS frame that completes the client's handshake.
      try halfway.send(Array(RawConnection.http2Preface.prefix(24)))
      for connection in mute + [halfway] {
        #expect(await connection.closedByServer(within: .seconds(20)))
      }
      #expect(await eventually { registry.server.connectionCount == 0 })
      // gRPC clients are not affected.
      _ = try await registry.withClient { try await $0.register(Fixtures.endpoint("nse-1")) }
    }
  }

  @Test func aConnectionThatFallsSilentAfterItsHandshakeIsClosedWhenIdle() async throws {
    try await TestRegistry.run { configuration in
      configuration.limits.maxIdleTime = .milliseconds(300)
      configuration.limits.keepaliveTime = .milliseconds(300)
      configuration.limits.keepaliveTimeout = .milliseconds(300)
    } _: { registry in
      let connection = try RawConnection(port: try port(of: registry.address))
      try connection.send(RawConnection.http2Preface)
      #expect(await connection.closedByServer(within: .seconds(20)))
    }
  }

  @Test func connectionsBeyondTheCapAreClosedAtOnce() async throws {
    try await TestRegistry.run { configuration in
      configuration.limits.maxConnections = 10
    } _: { registry in
      let port = try port(of: registry.address)
      let held = try (0..<10).map { _ in try RawConnection(port: port) }
      for connection in held { try connection.send(RawConnection.http2Preface) }
      #expect(await eventually { registry.server.connectionCount == 10 })
      let excess = try RawConnection(port: port)
      #expect(await excess.closedByServer(within: .seconds(20)))
      #expect(await held[0].closedByServer(within: .milliseconds(200)) == false, "the others stay")
      withExtendedLifetime(held) {}
    }
  }
}
