import BenchSupport
import Foundation
import NSMAPI
import NSMCore
import NSMTesting

/// Heal time with real processes: a manager, two endpoints, a client; kill -9 the endpoint the
/// client is connected to and time until the client prints its connection to the other one.
/// Then start the killed one again, and repeat.
enum HealTime {
  static func measure(rounds: Int) async throws -> [Double] {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(
        """
        apiVersion: networkservicemesh.io/v1
        kind: NetworkService
        metadata: {name: heal}
        spec: {payload: IP}
        """
      )
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      var endpoints: [String: NSMProcess.Running] = [:]
      for (index, name) in ["nse-a", "nse-b"].enumerated() {
        endpoints[name] = try await sandbox.endpoint(
          name,
          manager: manager,
          services: ["heal"],
          cidr: "10.\(100 + index).0.0/16"
        )
      }
      let client = try sandbox.client("nsc-1", manager: manager, services: ["heal"])
      var seen = 0
      func next(where condition: (Connection_Connection) -> Bool) async throws -> Connection_Connection {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
          let lines = client.stdoutLog
          while seen < lines.count {
            seen += 1
            let connection = try Connection_Connection(jsonString: lines[seen - 1])
            if condition(connection) { return connection }
          }
          try await Task.sleep(for: .milliseconds(2))
        }
        throw BenchError("the client did not heal within 60 s")
      }
      var current = try await next { $0.state == .up }.networkServiceEndpointName
      var times: [Double] = []
      for round in 1...rounds {
        let other = current == "nse-a" ? "nse-b" : "nse-a"
        let killedAt = ContinuousClock.now
        endpoints[current]?.signal(SIGKILL)
        _ = try await next { $0.state == .up && $0.networkServiceEndpointName == other }
        let healed = ContinuousClock.now - killedAt
        times.append(healed.seconds * 1000)
        progress("heal round \(round): \(format(healed.seconds * 1000, digits: 1)) ms")
        // The killed endpoint comes back (a restarted pod), so the next round has a candidate.
        _ = await endpoints[current]?.waitForExit()
        endpoints[current] = try await sandbox.endpoint(
          current,
          manager: manager,
          services: ["heal"],
          cidr: current == "nse-a" ? "10.100.0.0/16" : "10.101.0.0/16"
        )
        current = other
      }
      return times
    }
  }
}
