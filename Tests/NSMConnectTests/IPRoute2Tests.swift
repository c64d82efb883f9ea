import NSMCore
import NSMDataplane
import Testing

/// What `IPRoute2` refuses before it starts any process: a word that `ip -batch` would split,
/// quote or comment (a name, address or alias that is not one plain word).
struct IPRoute2Tests {
  @Test(arguments: [
    LinkSettings(alias: "nsm/mgr/a b", addresses: [], routes: []),
    LinkSettings(alias: "nsm/mgr/a\nlink delete dev eth0", addresses: [], routes: []),
    LinkSettings(alias: "nsm/mgr/a", addresses: ["10.0.0.1/32 #"], routes: []),
    LinkSettings(alias: "nsm/mgr/a", addresses: [], routes: [RouteSpec("10.0.0.0/24", via: "10.0.0.1;")]),
    LinkSettings(alias: "", addresses: [], routes: []),
  ])
  func aWordThatIsNotPlainIsRefusedBeforeAnythingRuns(_ settings: LinkSettings) async throws {
    // A namespace that does not exist: had anything run, the error would say so instead.
    let nowhere = NetworkNamespace(path: "/nonexistent/ns/net")
    await #expect {
      try await IPRoute2().configure("nsm-1", in: nowhere, settings)
    } throws: { error in
      (error as? NSMError)?.code == .invalidArgument
        && (error as? NSMError)?.message.contains("cannot be passed") == true
    }
  }
}
