internal import Foundation
public import NSMDNS
internal import Synchronization

/// An authoritative DNS server (nsd) for tests, on a free loopback port, serving the project's
/// `zones/` plus any zones a test passes; everything lives in one temporary folder.
public final class TestNSD: Sendable {
  public let server: NameServer
  private let folder: String
  private let process = Mutex<Process?>(nil)
  private let port: Int
  private let launcher: [String]

  /// The project's zone files, by zone name.
  public static let projectZones: [String: String] = {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("zones")
    let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    var zones: [String: String] = [:]
    for file in files where file.hasSuffix(".zone") {
      zones[String(file.dropLast(".zone".count))] = try? String(
        contentsOf: folder.appendingPathComponent(file),
        encoding: .utf8
      )
    }
    return zones
  }()

  /// Starts nsd serving `zones` (zone name → zone file text) and the project's zones, on
  /// `address` (a test namespace's, with `launcher` running it there).
  public static func start(
    zones extra: [String: String] = [:],
    address: String = "127.0.0.1",
    launcher: [String] = []
  ) async throws -> TestNSD {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-nsd-\(UUID().uuidString.prefix(8))")
      .path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let zones = projectZones.merging(extra) { $1 }
    let port = try freeLoopbackPort()
    var config = """
      server:
        ip-address: \(address)@\(port)
        username: ""
        chroot: ""
        zonesdir: "\(folder)"
        pidfile: "\(folder)/nsd.pid"
        database: ""
        xfrdfile: "\(folder)/xfrd.state"
        zonelistfile: "\(folder)/zone.list"
        logfile: "\(folder)/nsd.log"
        do-ip6: no
        verbosity: 0
      remote-control:
        control-enable: no

      """
    for (name, text) in zones.sorted(by: { $0.key < $1.key }) {
      try text.write(toFile: "\(folder)/\(name).zone", atomically: true, encoding: .utf8)
      config += "zone:\n  name: \(name)\n  zonefile: \"\(name).zone\"\n"
    }
    try config.write(toFile: "\(folder)/nsd.conf", atomically: true, encoding: .utf8)
    let nsd = TestNSD(
      server: NameServer(host: address, port: UInt16(port)),
      folder: folder,
      port: port,
      launcher: launcher
    )
    try await nsd.launch(firstZone: zones.keys.sorted().first ?? "a.nsm.test")
    return nsd
  }

  private init(server: NameServer, folder: String, port: Int, launcher: [String]) {
    self.server = server
    self.folder = folder
    self.port = port
    self.launcher = launcher
  }

  private func launch(firstZone: String) async throws {
    let process = Process()
    let command = launcher + ["/usr/sbin/nsd", "-c", "\(folder)/nsd.conf", "-d"]
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    self.process.withLock { $0 = process }
    for _ in 0..<200 {
      // Over TCP: a port not listening yet refuses at once, where a UDP query would wait out
      // drill's five-second timeout.
      let probe = launcher + ["/usr/bin/drill", "-t", "-Q", "-p", "\(port)", "@\(server.host)", "SOA", firstZone]
      let (status, _) = try await runProgram(probe[0], Array(probe.dropFirst()))
      if status == 0 { return }
      guard process.isRunning else { break }
      try await Task.sleep(for: .milliseconds(25))
    }
    let log = (try? String(contentsOfFile: "\(folder)/nsd.log", encoding: .utf8)) ?? ""
    stop()
    throw TestPostgresError("nsd did not start: \(log.suffix(2000))")
  }

  /// Stops nsd: its port then answers nothing, as a dead name server.
  public func stop() {
    guard
      let process = process.withLock({ p -> Process? in
        defer { p = nil }
        return p
      })
    else { return }
    // SIGKILL to nsd and its children, found by the unique config path: a child of this test
    // process inherits a signal mask in which nsd does not act on SIGTERM, and Foundation cannot
    // tell when nsd exits (its children keep the descriptor it watches).
    let pid = process.processIdentifier
    let killer = Process()
    killer.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
    killer.arguments = ["-KILL", "-f", "\(folder)/nsd.conf"]
    try? killer.run()
    killer.waitUntilExit()
    kill(pid, SIGKILL)
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(atPath: folder)
  }
}
