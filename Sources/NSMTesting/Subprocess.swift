internal import Dispatch
internal import Foundation
internal import Synchronization

/// Runs a program to completion off the cooperative thread pool (it blocks), returning its exit
/// status and combined output.
public func runProgram(
  _ path: String,
  _ arguments: [String],
  environment: [String: String] = [:]
) async throws -> (status: Int32, output: String) {
  // A thread of its own for the wait (runBlocking's reason): a probe may run for many seconds.
  try await withCheckedThrowingContinuation { continuation in
    DispatchQueue(label: "nsm.test.program").async {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: path)
      process.arguments = arguments
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
      // A file, not a pipe: a daemon the program starts (pg_ctl start) inherits the descriptor,
      // and a pipe would then never reach end-of-file.
      let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-run-\(UUID().uuidString)")
        .path
      defer { try? FileManager.default.removeItem(atPath: outputPath) }
      do {
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try output.close()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        continuation.resume(returning: (process.terminationStatus, text))
      } catch {
        continuation.resume(throwing: error)
      }
    }
  }
}

/// A loopback port, free over TCP and UDP a moment ago, for a server a test starts later.
///
/// Taken from 20000–32767, below Linux's ephemeral range (32768–60999): the kernel's own port-0
/// picks (every outgoing connection of a parallel test) never land there, so the port stays
/// free until the server binds it. Never the same port twice in one test process.
public func freeLoopbackPort() throws -> Int {
  for _ in 0..<500 {
    let port = Int.random(in: 20000...32767)
    let fresh = handedOut.withLock { ports in ports.insert(port).inserted }
    guard fresh else { continue }
    if canBind(port, type: SOCK_STREAM) && canBind(port, type: SOCK_DGRAM) { return port }
  }
  throw POSIXError(.EADDRINUSE)
}

private let handedOut = Mutex<Set<Int>>([])

private func canBind(_ port: Int, type: __socket_type) -> Bool {
  let fd = socket(AF_INET, Int32(type.rawValue), 0)
  guard fd >= 0 else { return false }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = UInt16(port).bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  return withUnsafePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
    }
  }
}
