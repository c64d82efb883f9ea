import Foundation
import NSMTesting
import Testing

/// A test run killed with -9 cannot delete its namespaces; the next run deletes them.
@Suite("Namespaces of killed test runs", .enabled(if: TestNamespaces.available))
struct TestNamespaceSweepTests {
  @Test func namespacesOfAProcessThatIsGoneAreDeletedAndOthersKept() async throws {
    // A process id that existed and is gone.
    let finished = try Process.run(URL(fileURLWithPath: "/bin/true"), arguments: [])
    finished.waitUntilExit()
    let stale = "nsmt-\(finished.processIdentifier)xdead-left"
    let live = "nsmt-\(getpid())xlive-kept"
    for name in [stale, live] { #expect(try await runProgram(TestNamespaces.ip, ["netns", "add", name]).status == 0) }
    defer {
      for name in [stale, live] {
        _ = try? Process.run(URL(fileURLWithPath: TestNamespaces.ip), arguments: ["netns", "delete", name])
      }
    }
    TestNamespaces.sweepStale()
    #expect(await eventually(within: .seconds(5)) { !FileManager.default.fileExists(atPath: "/run/netns/\(stale)") })
    #expect(FileManager.default.fileExists(atPath: "/run/netns/\(live)"))
  }
}
