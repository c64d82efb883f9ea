import Foundation
import NSMTesting
import Testing

/// `deploy/local/gateways.sh`, the demo the README points to, run as a user would: it must
/// build its two domains and the floating one, ping across both gateways, and leave no
/// namespace or process behind.
@Suite("deploy/local/gateways.sh", .serialized, .enabled(if: TestNamespaces.available))
struct DeployScriptTests {
  static let script = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("deploy/local/gateways.sh").path

  @Test func theGatewayDemoPingsAcrossBothDomainsAndCleansUp() async throws {
    let (status, output) = try await runProgram(
      "/usr/bin/timeout",
      ["150", "/bin/bash", Self.script],
      environment: ["NSM": NSMProcess.executable.path]
    )
    #expect(status == 0, "\(output)")
    #expect(output.contains("hops nsc-a,mgr-a,proxy-a,proxy-b,mgr-b,nse-b;"), "\(output)")
    #expect(output.contains("hops nsc-a,mgr-a,proxy-a,proxy-b,mgr-b,nse-f@floating.gwdemo.nsm.test;"), "\(output)")
    #expect(output.components(separatedBy: "3 received").count == 3, "two pings answered: \(output)")
    let namespaces = try await runProgram("/usr/sbin/ip", ["netns", "list"]).output
    #expect(!namespaces.contains("nsmgw-"), "\(namespaces)")
    let processes = try await runProgram("/usr/bin/pgrep", ["-f", "gwdemo.nsm.test"])
    #expect(processes.status != 0, "left running: \(processes.output)")
  }
}
