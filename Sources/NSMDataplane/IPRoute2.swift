internal import Foundation
internal import NSMCore

/// ``LinkControl`` with iproute2's `ip`, entered into namespaces with `nsenter --net=PATH`, each
/// command a child process: the namespace switch happens in the child, never on a thread of
/// ours. Chosen over hand-written rtnetlink for now because `ip` is on every host that runs a
/// data plane, its error messages are what operators know, and a vWire is set up once per
/// connection, not per packet (docs/dataplane.md has the measurement).
public struct IPRoute2: LinkControl {
  public var ip: String
  public var nsenter: String

  public init(ip: String = "/usr/sbin/ip", nsenter: String = "/usr/bin/nsenter") {
    self.ip = FileManager.default.isExecutableFile(atPath: ip) ? ip : "/sbin/ip"
    self.nsenter = nsenter
  }

  public func addVethPair(
    _ name: String,
    in namespace: NetworkNamespace,
    peer: String,
    in peerNamespace: NetworkNamespace
  ) async throws {
    try await run(
      in: .current,
      ["link", "add", name, "netns", namespace.path, "type", "veth", "peer", "name", peer, "netns", peerNamespace.path]
    )
  }

  public func addVXLAN(
    _ name: String,
    in target: NetworkNamespace,
    vni: UInt32,
    local: String,
    remote: String,
    port: Int
  ) async throws {
    // `dstport` always: Linux's own default is 8472, not VXLAN's 4789.
    try await run(
      in: .current,
      [
        "link", "add", name, "netns", target.path, "type", "vxlan", "id", String(vni), "local", local, "remote", remote,
        "dstport", String(port), "nolearning",
      ]
    )
  }

  public func pathMTU(toward address: String, in namespace: NetworkNamespace) async throws -> Int {
    let route = try await run(in: namespace, ["-o", "route", "get", address])
    let fields = route.split(separator: " ")
    guard let devIndex = fields.firstIndex(of: "dev"), devIndex + 1 < fields.count else {
      throw NSMError(.unavailable, "no route to \(address) in \(namespace): \(route)")
    }
    if let mtuIndex = fields.firstIndex(of: "mtu"), mtuIndex + 1 < fields.count, let mtu = Int(fields[mtuIndex + 1]) {
      return mtu
    }
    let link = try await run(in: namespace, ["-o", "link", "show", "dev", String(fields[devIndex + 1])])
    let linkFields = link.split(separator: " ")
    guard let mtuIndex = linkFields.firstIndex(of: "mtu"), mtuIndex + 1 < linkFields.count,
      let mtu = Int(linkFields[mtuIndex + 1])
    else {
      throw NSMError(.internal, "cannot read the MTU of \(fields[devIndex + 1]): \(link)")
    }
    return mtu
  }

  public func configure(_ link: String, in namespace: NetworkNamespace, _ settings: LinkSettings) async throws {
    // One `ip -batch` process for all of it: a process start costs more than the commands.
    var commands = [["link", "set", "dev", link, "alias", settings.alias]]
    if let mtu = settings.mtu { commands.append(["link", "set", "dev", link, "mtu", String(mtu)]) }
    for address in settings.addresses { commands.append(["address", "replace", address, "dev", link]) }
    commands.append(["link", "set", "dev", link, "up"])
    for route in settings.routes {
      let via = route.via.map { ["via", $0] } ?? []
      commands.append(["route", "replace", route.prefix] + via + ["dev", link])
    }
    try await batch(in: namespace, commands)
  }

  public func addBridge(_ name: String, in namespace: NetworkNamespace) async throws {
    do {
      try await run(in: namespace, ["link", "add", "name", name, "type", "bridge"])
    } catch let error as NSMError where error.message.contains("File exists") {}
    try await run(in: namespace, ["link", "set", "dev", name, "up"])
  }

  public func attach(_ link: String, to bridge: String, in namespace: NetworkNamespace) async throws {
    try await run(in: namespace, ["link", "set", "dev", link, "master", bridge, "up"])
  }

  public func delete(_ link: String, in namespace: NetworkNamespace) async throws {
    guard namespace.exists else { return }
    do {
      try await run(in: namespace, ["link", "delete", "dev", link])
    } catch let error as NSMError where error.message.contains("Cannot find device") {
      return
    }
  }

  public func links(in namespace: NetworkNamespace, aliasPrefix prefix: String) async throws
    -> [(name: String, alias: String)]
  {
    let output = try await run(in: namespace, ["-o", "link", "show"])
    var found: [(String, String)] = []
    for line in output.split(separator: "\n") {
      // `5: nsm1@if6: <...> ... alias nsm:mgr:id` (one line per link with -o)
      let fields = line.split(separator: " ")
      guard fields.count > 2, let aliasIndex = fields.firstIndex(of: "alias"), aliasIndex + 1 < fields.count else {
        continue
      }
      let alias = String(fields[aliasIndex + 1])
      guard alias.hasPrefix(prefix) else { continue }
      var name = fields[1].dropLast()  // the colon
      if let at = name.firstIndex(of: "@") { name = name[..<at] }
      found.append((String(name), alias))
    }
    return found
  }

  /// Runs `commands` in one `ip -batch -` in `namespace`; stops at the first that fails
  /// (INTERNAL with ip's message).
  func batch(in namespace: NetworkNamespace, _ commands: [[String]]) async throws {
    // A batch line is split at white space and may hold quotes and comments: only plain words
    // may go in (names, addresses and aliases are such words).
    for word in commands.joined() where word.isEmpty || word.contains(where: Self.unsafeInBatch) {
      throw NSMError.invalidArgument("'\(word)' cannot be passed to ip")
    }
    let script = commands.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n"
    let command: [String] =
      namespace == .current ? [ip, "-batch", "-"] : [nsenter, "--net=\(namespace.path)", ip, "-batch", "-"]
    let result = try await ChildProcess.run(command, input: script)
    guard result.status == 0 else {
      let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
      throw NSMError(.internal, "ip -batch in \(namespace): \(message) (commands: \(script.split(separator: "\n")))")
    }
  }

  static func unsafeInBatch(_ character: Character) -> Bool {
    character.isWhitespace || character.isNewline || "\"'\\#;".contains(character)
  }

  /// Runs `ip ARGUMENTS` in `namespace`; its standard output, or INTERNAL with its message.
  @discardableResult
  func run(in namespace: NetworkNamespace, _ arguments: [String]) async throws -> String {
    let command: [String] =
      namespace == .current ? [ip] + arguments : [nsenter, "--net=\(namespace.path)", ip] + arguments
    let result = try await ChildProcess.run(command)
    guard result.status == 0 else {
      let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
      throw NSMError(.internal, "ip \(arguments.joined(separator: " ")) in \(namespace): \(message)")
    }
    return result.stdout
  }
}

/// A child process run to completion without blocking a thread of Swift's cooperative pool.
enum ChildProcess {
  struct Result: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// `input`: written to the child's standard input, which is then closed.
  static func run(_ command: [String], input: String? = nil) async throws -> Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let inputPipe = input.map { _ in Pipe() }
    process.standardInput = inputPipe ?? FileHandle.nullDevice
    let (exited, exit) = AsyncStream<Int32>.makeStream()
    process.terminationHandler = {
      exit.yield($0.terminationStatus)
      exit.finish()
    }
    do {
      try process.run()
    } catch {
      throw NSMError(.internal, "cannot run \(command[0]): \(error)")
    }
    if let inputPipe, let input {
      // Small scripts (a few hundred bytes) fit a pipe's buffer: this write does not block.
      let handle = inputPipe.fileHandleForWriting
      try? handle.write(contentsOf: Data(input.utf8))
      try? handle.close()
    }
    // Both pipes drained while the child runs, each on a thread of its own: a child whose
    // output outgrows a pipe's buffer (`ip link show` on a busy host) would otherwise never exit.
    let outHandle = out.fileHandleForReading
    let errHandle = err.fileHandleForReading
    async let stdout = runBlocking("nsm.dataplane.stdout") { outHandle.readDataToEndOfFile() }
    async let stderr = runBlocking("nsm.dataplane.stderr") { errHandle.readDataToEndOfFile() }
    let (output, errors) = await (stdout, stderr)
    var status: Int32 = -1
    for await code in exited { status = code }
    return Result(
      status: status,
      stdout: String(decoding: output, as: UTF8.self),
      stderr: String(decoding: errors, as: UTF8.self)
    )
  }
}
