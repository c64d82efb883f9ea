import Foundation
import GRPCCore
import NSMAPI
import NSMAPIGRPC
import NSMConnect
import NSMCore
import NSMTesting
import NSMTransport
import Testing

/// Many workloads at once: concurrent Requests and Closes of distinct connections through one
/// manager, each answered, none left behind.
@Suite("Concurrent connections", .serialized)
struct ConcurrencyTests {
  @Test func concurrentRequestsAndClosesAllComplete() async throws {
    try await ConnectSandbox.run { sandbox in
      try await sandbox.apply(MonitorAndErrorTests.services)
      let manager = try await sandbox.manager("mgr-1", node: "node-1")
      _ = try await sandbox.endpoint("nse-a", manager: manager, services: ["simple"], cidr: "10.110.0.0/16")
      try await withThrowingTaskGroup(of: Int.self) { group in
        for worker in 0..<8 {
          group.addTask {
            try await ClientFactory().with(address: manager.socket) { grpc in
              let client = Networkservice_NetworkService.Client(wrapping: grpc)
              var done = 0
              for round in 0..<25 {
                var request = MonitorAndErrorTests.request("simple")
                request.connection.id = "w\(worker)-\(round)"
                request.connection.path.pathSegments[0].id = request.connection.id
                var options = CallOptions.defaults
                options.timeout = .seconds(10)
                let connection = try await client.request(request, options: options)
                _ = try await client.close(connection, options: options)
                done += 1
              }
              return done
            }
          }
        }
        var total = 0
        for try await done in group { total += done }
        #expect(total == 200)
      }
      let listing = try await NSMProcess.run(["get", "connections", "--manager", manager.url.description, "-o", "json"])
      #expect(listing.stdout.isEmpty)
    }
  }
}
