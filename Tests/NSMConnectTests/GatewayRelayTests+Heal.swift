import Foundation
import NSMAPI
import NSMCore
import NSMTesting
import Testing

/// Heal across the gateways' relays under a running ping (upstream's interdomain heal suite):
/// each component killed with SIGKILL, the client never restarted.
extension GatewayRelayTests {
  /// Heal across the gateways under a running ping: A's gateway is killed with SIGKILL and
  /// started again, later the endpoint in B that the client reaches; each time the client's
  /// connection comes back (through the new gateway, then to the other endpoint in B) and the
  /// ping resumes.
  @Test(arguments: ["userspace", "kernel"])
  func thePingResumesAfterTheGatewayAndTheEndpointDie(relay: String) async throws {
    try await RelayDomains.run(relay: relay) { domains in
      var domains = domains
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      let first = try await sandbox.endpoint(
        "nse-b",
        manager: domains.managerB,
        services: ["simple"],
        cidr: "10.156.0.0/24"
      )
      let second = try await sandbox.endpoint(
        "nse-b2",
        manager: domains.managerB,
        services: ["simple"],
        cidr: "10.156.0.0/24"
      )
      var lines = ConnectionLines(
        try sandbox.client("nsc-a", manager: domains.managerA, services: ["kernel://simple@\(b)/nsm-1"])
      )
      let connection = try await lines.next()
      let target = String(try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first))
      // 200 pings 50 ms apart (10 s).
      let ping = Task {
        try await namespaces.exec("client", ["ping", "-i", "0.05", "-c", "200", "-W", "1", target])
      }
      try await Task.sleep(for: .milliseconds(1500))
      domains.proxyA.signal(SIGKILL)
      _ = await domains.proxyA.waitForExit()
      domains.proxyA = try await domains.startGateway("a")
      try await Task.sleep(for: .milliseconds(3000))
      let victim = connection.networkServiceEndpointName.hasPrefix("nse-b2") ? second : first
      let survivor = connection.networkServiceEndpointName.hasPrefix("nse-b2") ? "nse-b" : "nse-b2"
      victim.signal(SIGKILL)
      let healed = try await lines.next(within: .seconds(10)) {
        $0.state == .up && $0.networkServiceEndpointName == "\(survivor)@\(b)"
      }
      #expect(healed.hops == ["nsc-a", "mgr-ra", "proxy-a", "proxy-b", "mgr-rb", survivor])
      let output = try await ping.value.output
      let replies = output.split(separator: "\n").compactMap { line -> Int? in
        guard line.contains("bytes from"), let range = line.range(of: "icmp_seq=") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
      }
      print("heal across gateways (\(relay) relay): \(200 - replies.count) of 200 pings lost (50 ms apart)")
      #expect(replies.contains { $0 < 25 }, "\(output)")
      #expect(replies.contains { $0 > 180 }, "the ping resumed through the new gateway and endpoint: \(output)")
    }
  }

  /// Heal of the other components under a running ping (upstream's interdomain heal suite):
  /// B's gateway, B's manager and A's manager are each killed with SIGKILL and started again
  /// at their address, a few seconds apart; the client is never restarted, and the ping
  /// resumes after each.
  @Test func thePingResumesAfterGatewayBAndBothManagersDie() async throws {
    try await RelayDomains.run(relay: "userspace") { domains in
      var domains = domains
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      _ = try await sandbox.endpoint("nse-b", manager: domains.managerB, services: ["simple"], cidr: "10.157.0.0/24")
      var lines = ConnectionLines(
        try sandbox.client("nsc-a", manager: domains.managerA, services: ["kernel://simple@\(b)/nsm-1"])
      )
      let connection = try await lines.next()
      let target = String(try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first))
      // 500 pings 50 ms apart (25 s); a kill at t is near sequence number t / 50 ms.
      let started = ContinuousClock.now
      let ping = Task {
        try await namespaces.exec("client", ["ping", "-i", "0.05", "-c", "500", "-W", "1", target])
      }
      var kills: [(String, Int)] = []
      func sequence() -> Int { Int((ContinuousClock.now - started) / .milliseconds(50)) }
      try await Task.sleep(for: .seconds(2))
      kills.append(("gateway B", sequence()))
      domains.proxyB.signal(SIGKILL)
      _ = await domains.proxyB.waitForExit()
      domains.proxyB = try await domains.startGateway("b")
      try await Task.sleep(for: .seconds(5))

      kills.append(("manager B", sequence()))
      domains.managerB.process.signal(SIGKILL)
      _ = await domains.managerB.process.waitForExit()
      domains.managerB = try await domains.startManager("b", port: domains.managerB.url)
      try await Task.sleep(for: .seconds(6))

      kills.append(("manager A", sequence()))
      domains.managerA.process.signal(SIGKILL)
      _ = await domains.managerA.process.waitForExit()
      domains.managerA = try await domains.startManager("a", port: domains.managerA.url)

      let output = try await ping.value.output
      let replies = output.split(separator: "\n").compactMap { line -> Int? in
        guard line.contains("bytes from"), let range = line.range(of: "icmp_seq=") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
      }
      print("heal across gateways (gateway B, manager B, manager A): \(500 - replies.count) of 500 pings lost")
      #expect(replies.contains { $0 < kills[0].1 }, "\(output)")
      // After each kill the ping comes back before the next one.
      for (index, (victim, at)) in kills.enumerated() {
        let until = index + 1 < kills.count ? kills[index + 1].1 : 500
        #expect(replies.contains { $0 > at && $0 < until }, "no reply after \(victim) died (seq \(at)): \(output)")
      }
      #expect(lines.process.process.isRunning, "the client was never restarted")
    }
  }

  /// B's registry (on PostgreSQL) killed with SIGKILL under a running ping and started again:
  /// the vWire never needed it (its route is held at every hop) and keeps refreshing through
  /// the outage; once it is back, a second client in A connects through it (the network
  /// service and the endpoint were not forgotten).
  @Test func thePingOutlivesBsRegistryAndANewClientConnectsOnceItIsBack() async throws {
    let postgres = try await TestPostgres.sharedServer()
    let store = try postgres.throughSocket(try await postgres.makeDatabase())
    try await RelayDomains.run(relay: "userspace", storeB: store) { domains in
      let (namespaces, sandbox, b) = (domains.namespaces, domains.sandbox, domains.b)
      _ = try await sandbox.endpoint("nse-b", manager: domains.managerB, services: ["simple"], cidr: "10.158.0.0/24")
      var lines = ConnectionLines(
        try sandbox.client(
          "nsc-a",
          manager: domains.managerA,
          services: ["kernel://simple@\(b)/nsm-1"],
          arguments: ["--max-token-lifetime", "3s"]
        )
      )
      let connection = try await lines.next()
      let target = String(try #require(connection.context.ipContext.dstIpAddrs.first?.split(separator: "/").first))
      // 200 pings 50 ms apart (10 s), across two token lifetimes of the outage.
      let ping = Task {
        try await namespaces.exec("client", ["ping", "-i", "0.05", "-c", "200", "-W", "1", target])
      }
      try await Task.sleep(for: .seconds(1))
      let registry = try #require(sandbox.process(named: "registry-b"))
      registry.signal(SIGKILL)
      _ = await registry.waitForExit()
      try await Task.sleep(for: .seconds(6))
      let again = try await sandbox.registry(
        "registry-b",
        arguments: RelayDomains.registryBArguments(b: b, dns: domains.dns, store: store)
      )
      #expect(again == domains.registryB)

      let output = try await ping.value.output
      let replies = output.split(separator: "\n").filter { $0.contains("bytes from") }.count
      print("B's registry killed for 6 s under a ping: \(200 - replies) of 200 pings lost")
      #expect(replies >= 195, "\(output)")
      #expect(lines.process.process.isRunning)

      var second = ConnectionLines(
        try sandbox.client("nsc-a2", manager: domains.managerA, services: ["kernel://simple@\(b)/nsm-2"])
      )
      #expect(try await second.next().hops == ["nsc-a2", "mgr-ra", "proxy-a", "proxy-b", "mgr-rb", "nse-b"])
    }
  }
}
