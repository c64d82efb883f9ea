import Foundation
import NSMCore
import NSMDataplane
import NSMTesting
import Testing

/// The kernel relay's nftables table, made by the real `nft` in a namespace of the test's own
/// (through a wrapper that enters it), and its forwarding sysctl in a folder of the test's:
/// what each splice adds and removes, what it refuses before anything runs. Packets through it
/// are `GatewayRelayTests`' part.
@Suite("The kernel relay's table", .serialized, .enabled(if: TestNamespaces.available))
struct KernelRelayTests {
  static let inside = KernelRelay.End(address: "10.1.0.1", port: 4789)
  static let outside = KernelRelay.End(address: "198.18.0.1", port: 4789)

  /// A relay of gateway `owner` whose `nft` runs in `role`'s namespace, and the folder that
  /// stands for /proc/sys (forwarding off).
  static func relay(
    _ namespaces: TestNamespaces,
    role: String,
    owner: String,
    in folder: URL
  ) throws -> KernelRelay {
    let sysctl = folder.appendingPathComponent("sys")
    try FileManager.default.createDirectory(
      at: sysctl.appendingPathComponent("net/ipv4"),
      withIntermediateDirectories: true
    )
    let forwarding = sysctl.appendingPathComponent("net/ipv4/ip_forward")
    if !FileManager.default.fileExists(atPath: forwarding.path) { try Data("0\n".utf8).write(to: forwarding) }
    let wrapper = folder.appendingPathComponent("nft-\(role)")
    try Data("#!/bin/sh\nexec \(TestNamespaces.ip) netns exec \(namespaces.name(role)) nft \"$@\"\n".utf8)
      .write(to: wrapper)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
    try waitUntilRunnable(wrapper)
    return try KernelRelay(owner: owner, inside: inside, outside: outside, nft: wrapper.path, sysctl: sysctl.path)
  }

  /// A process another test forks while `script` was still open for writing holds that
  /// descriptor until it execs, and running the script meanwhile fails with "Text file busy"
  /// (it did once in CI): try it until it runs.
  static func waitUntilRunnable(_ script: URL) throws {
    for attempt in 1...100 {
      let process = Process()
      process.executableURL = script
      process.arguments = ["--version"]
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      do {
        try process.run()
        process.waitUntilExit()
        return
      } catch  where attempt < 100 {
        usleep(20_000)
      }
    }
  }

  /// Runs `body` with a new folder, removed after.
  func withTemporaryFolder(_ body: (URL) async throws -> Void) async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-kr-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    try await body(folder)
  }

  static func list(_ namespaces: TestNamespaces, _ role: String, map: String, of owner: String) async throws -> String {
    let listed = try await namespaces.exec(role, ["nft", "list", "map", "inet", "nsmr_\(owner)", map])
    #expect(listed.status == 0, "\(listed.output)")
    return listed.output
  }

  @Test func eachSpliceIsTwoDirectionsInTheMapsAndGoesWhole() async throws {
    try await TestNamespaces.run(["gw"]) { namespaces in
      try await withTemporaryFolder { folder in
        let relay = try Self.relay(namespaces, role: "gw", owner: "gw", in: folder)
        let reset = try await relay.reset()
        #expect(reset == KernelRelay.Reset(replacedTable: false, enabled: ["net.ipv4.ip_forward"]))
        let forwarding = try String(contentsOfFile: relay.sysctl + "/net/ipv4/ip_forward", encoding: .utf8)
        #expect(forwarding.trimmingCharacters(in: .whitespacesAndNewlines) == "1")

        let manager = KernelRelay.Leg(address: "10.1.0.2", port: 4789, vni: 7)
        let peer = KernelRelay.Leg(address: "198.18.0.2", port: 4790, vni: 7)
        try await relay.splice("c1", inside: manager, outside: peer)
        var legs = try await Self.list(namespaces, "gw", map: "legs", of: "gw")
        // What arrives at the inside end from the manager, and at the outside end from the
        // peer gateway (VNI 7 as nft lists it).
        #expect(legs.contains("10.1.0.1 . 10.1.0.2 . 4789 . 0x7 : 0x4e000001"), "\(legs)")
        #expect(legs.contains("198.18.0.1 . 198.18.0.2 . 4789 . 0x7 : 0x4e000002"), "\(legs)")
        let to = try await Self.list(namespaces, "gw", map: "to", of: "gw")
        #expect(to.contains("0x4e000001 : 198.18.0.2") && to.contains("0x4e000002 : 10.1.0.2"), "\(to)")
        let port = try await Self.list(namespaces, "gw", map: "port", of: "gw")
        #expect(port.contains("0x4e000001 : 4790") && port.contains("0x4e000002 : 4789"), "\(port)")
        let from = try await Self.list(namespaces, "gw", map: "from", of: "gw")
        #expect(from.contains("0x4e000001 : 198.18.0.1") && from.contains("0x4e000002 : 10.1.0.1"), "\(from)")

        // The peer moved: the old entries go, the new ones come, the marks stay.
        let moved = KernelRelay.Leg(address: "198.18.0.3", port: 4789, vni: 7)
        try await relay.splice("c1", inside: manager, outside: moved)
        legs = try await Self.list(namespaces, "gw", map: "legs", of: "gw")
        #expect(!legs.contains("198.18.0.2") && legs.contains("198.18.0.1 . 198.18.0.3 . 4789 . 0x7 : 0x4e000002"))

        // A second vWire from the same manager with its own VNI; the first one's removal frees
        // its marks for the next.
        try await relay.splice(
          "c2",
          inside: KernelRelay.Leg(address: "10.1.0.2", port: 4789, vni: 8),
          outside: KernelRelay.Leg(address: "198.18.0.3", port: 4789, vni: 8)
        )
        await relay.unsplice("c1")
        legs = try await Self.list(namespaces, "gw", map: "legs", of: "gw")
        #expect(!legs.contains("0x7") && legs.contains("0x8 : 0x4e000003"), "\(legs)")
        try await relay.splice(
          "c3",
          inside: KernelRelay.Leg(address: "10.1.0.4", port: 4789, vni: 9),
          outside: KernelRelay.Leg(address: "198.18.0.3", port: 4789, vni: 9)
        )
        legs = try await Self.list(namespaces, "gw", map: "legs", of: "gw")
        #expect(legs.contains("10.1.0.1 . 10.1.0.4 . 4789 . 0x9 : 0x4e000001"), "\(legs)")

        // A restarted gateway starts from an empty table; forwarding is on already.
        let again = try await relay.reset()
        #expect(again == KernelRelay.Reset(replacedTable: true, enabled: []))
        legs = try await Self.list(namespaces, "gw", map: "legs", of: "gw")
        #expect(!legs.contains("elements"), "\(legs)")
      }
    }
  }

  @Test func whatTheRelayCannotSpliceIsRefusedBeforeAnythingChanges() async throws {
    try await TestNamespaces.run(["gw"]) { namespaces in
      try await withTemporaryFolder { folder in
        let relay = try Self.relay(namespaces, role: "gw", owner: "gw", in: folder)
        _ = try await relay.reset()
        let manager = KernelRelay.Leg(address: "10.1.0.2", port: 4789, vni: 7)
        for (inside, outside, says) in [
          (manager, KernelRelay.Leg(address: "198.18.0.2", port: 4789, vni: 8), "keeps a vWire's VNI on both sides"),
          (manager, KernelRelay.Leg(address: "fd00::2", port: 4789, vni: 7), "IPv4 tunnels only"),
          (manager, KernelRelay.Leg(address: "198.18.0.2 } ; flush ruleset", port: 4789, vni: 7), "is not one"),
          (manager, KernelRelay.Leg(address: "198.18.0.2", port: 0, vni: 7), "cannot be spliced"),
          (
            KernelRelay.Leg(address: "10.1.0.2", port: 4789, vni: 1 << 24),
            KernelRelay.Leg(address: "198.18.0.2", port: 4789, vni: 1 << 24), "cannot be spliced"
          ),
        ] {
          await #expect {
            try await relay.splice("c1", inside: inside, outside: outside)
          } throws: { error in
            (error as? NSMError)?.code == .invalidArgument && (error as? NSMError)?.message.contains(says) == true
          }
        }
        let legs = try await Self.list(namespaces, "gw", map: "legs", of: "gw")
        #expect(!legs.contains("elements"), "\(legs)")
        #expect(throws: NSMError.self) {
          try KernelRelay(owner: "gw", inside: Self.inside, outside: KernelRelay.End(address: "fd00::1", port: 4789))
        }
      }
    }
  }

  @Test func aSecondGatewaysRelayInTheSameNamespaceIsRefused() async throws {
    try await TestNamespaces.run(["gw"]) { namespaces in
      try await withTemporaryFolder { folder in
        _ = try await Self.relay(namespaces, role: "gw", owner: "first", in: folder).reset()
        let second = try Self.relay(namespaces, role: "gw", owner: "second", in: folder)
        await #expect {
          _ = try await second.reset()
        } throws: { error in
          (error as? NSMError)?.code == .failedPrecondition
            && (error as? NSMError)?.message.contains("table inet nsmr_first") == true
        }
        let tables = try await namespaces.exec("gw", ["nft", "list", "tables"]).output
        #expect(!tables.contains("nsmr_second"), "\(tables)")
      }
    }
  }
}
