internal import Dispatch
internal import Foundation

/// Runs a program to completion off the cooperative thread pool (it blocks), returning its exit
/// status and combined output.
public func runProgram(
  _ path: String,
  _ arguments: [String],
  environment: [String: String] = [:]
) async throws -> (status: Int32, output: String) {
  try await withCheckedThrowingContinuation { continuation in
    DispatchQueue.global().async {
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

/// A loopback TCP port that was free a moment ago (bind to port 0, read it, close).
public func freeLoopbackPort() throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { throw POSIXError(.EMFILE) }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = 0
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
    }
  }
  guard bound else { throw POSIXError(.EADDRINUSE) }
  return Int(UInt16(bigEndian: address.sin_port))
}
