import Foundation

/// The built `nsm` binary run as a child process, as an operator runs it.
struct NSMProcess: Sendable {
  /// `nsm` sits beside the test bundle in the build folder.
  static let executable: URL = {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
      .appendingPathComponent("nsm")
    if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent(".build/debug/nsm")
  }()

  struct Result: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs `nsm arguments` to completion.
  static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws
    -> Result
  {
    let running = try Running(arguments, environment: environment, stdin: stdin)
    return await running.wait()
  }

  /// A started `nsm` whose output lines are read as they come.
  final class Running: Sendable {
    let process: Process
    let stdoutLines: AsyncStream<String>
    let stderrLines: AsyncStream<String>
    private let finished: AsyncStream<Int32>

    init(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws {
      let process = Process()
      process.executableURL = NSMProcess.executable
      process.arguments = arguments
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
      let out = Pipe()
      let err = Pipe()
      process.standardOutput = out
      process.standardError = err
      let input = Pipe()
      process.standardInput = input
      let (finished, finishedContinuation) = AsyncStream<Int32>.makeStream()
      self.finished = finished
      process.terminationHandler = {
        finishedContinuation.yield($0.terminationStatus); finishedContinuation.finish()
      }
      self.process = process
      stdoutLines = Self.lines(of: out.fileHandleForReading)
      stderrLines = Self.lines(of: err.fileHandleForReading)
      try process.run()
      if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
      try input.fileHandleForWriting.close()
    }

    /// Reads a pipe on a thread of its own (a blocking read) and hands on whole lines.
    private static func lines(of handle: FileHandle) -> AsyncStream<String> {
      let (stream, continuation) = AsyncStream<String>.makeStream()
      Thread.detachNewThread {
        var buffer = Data()
        while true {
          let chunk = handle.availableData
          if chunk.isEmpty { break }
          buffer.append(chunk)
          while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            continuation.yield(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
            buffer.removeSubrange(buffer.startIndex...newline)
          }
        }
        if !buffer.isEmpty { continuation.yield(String(decoding: buffer, as: UTF8.self)) }
        continuation.finish()
      }
      return stream
    }

    func signal(_ signal: Int32) {
      kill(process.processIdentifier, signal)
    }

    /// Waits for exit; for a process whose output the test reads itself.
    func waitForExit() async -> Int32 {
      var status: Int32 = -1
      for await code in finished { status = code }
      return status
    }

    /// Waits for exit and returns everything written.
    func wait() async -> Result {
      async let out = stdoutLines.reduce(into: [String]()) { $0.append($1) }
      async let err = stderrLines.reduce(into: [String]()) { $0.append($1) }
      var status: Int32 = -1
      for await code in finished { status = code }
      let (o, e) = await (out, err)
      return Result(status: status, stdout: o.joined(separator: "\n"), stderr: e.joined(separator: "\n"))
    }
  }
}
