public import Foundation
public import NSMCore
internal import Synchronization

/// The built `nsm` binary run as a child process, as an operator runs it.
public struct NSMProcess: Sendable {
  /// `nsm` sits beside the test bundle in the build folder; `NSM_EXECUTABLE` names another
  /// (a benchmark runs a release build).
  public static let executable: URL = {
    if let path = ProcessInfo.processInfo.environment["NSM_EXECUTABLE"], !path.isEmpty {
      return URL(fileURLWithPath: path)
    }
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
      .appendingPathComponent("nsm")
    if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent(".build/debug/nsm")
  }()

  public struct Result: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
  }

  /// Runs `nsm arguments` to completion.
  public static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) async throws
    -> Result
  {
    let running = try Running(arguments, environment: environment, stdin: stdin)
    return await running.wait()
  }

  /// A started `nsm` whose output lines are read as they come.
  public final class Running: Sendable {
    public let process: Process
    public let stdoutLines: AsyncStream<String>
    public let stderrLines: AsyncStream<String>
    private let finished: AsyncStream<Int32>
    private let stderrSeen = LinesSeen()
    private let stdoutSeen = LinesSeen()

    /// `launcher`: a command `nsm` runs under, e.g. `["/usr/sbin/ip", "netns", "exec", NAME]` to
    /// start it in a network namespace.
    public init(
      _ arguments: [String],
      environment: [String: String] = [:],
      stdin: String? = nil,
      launcher: [String] = []
    ) throws {
      let process = Process()
      if let first = launcher.first {
        process.executableURL = URL(fileURLWithPath: first)
        process.arguments = Array(launcher.dropFirst()) + [NSMProcess.executable.path] + arguments
      } else {
        process.executableURL = NSMProcess.executable
        process.arguments = arguments
      }
      // Plaintext unless a test gives an identity: tests of mTLS pass --tls-dir, which wins.
      process.environment = ProcessInfo.processInfo.environment.merging(["NSM_INSECURE": "true"]) { $1 }
        .merging(environment) { $1 }
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
      stdoutLines = Self.lines(of: out.fileHandleForReading, seen: stdoutSeen)
      stderrLines = Self.lines(of: err.fileHandleForReading, seen: stderrSeen)
      try process.run()
      if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
      try input.fileHandleForWriting.close()
    }

    /// Reads a pipe on a thread of its own (a blocking read) and hands on whole lines.
    private static func lines(of handle: FileHandle, seen: LinesSeen? = nil) -> AsyncStream<String> {
      let (stream, continuation) = AsyncStream<String>.makeStream()
      Thread.detachNewThread {
        var buffer = Data()
        while true {
          let chunk = handle.availableData
          if chunk.isEmpty { break }
          buffer.append(chunk)
          while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
            seen?.append(line)
            continuation.yield(line)
            buffer.removeSubrange(buffer.startIndex...newline)
          }
        }
        if !buffer.isEmpty { continuation.yield(String(decoding: buffer, as: UTF8.self)) }
        continuation.finish()
      }
      return stream
    }

    /// The first standard-error line containing `text`, waiting up to `limit` for it; read from
    /// a record of every line, so it does not consume ``stderrLines``.
    public func stderrLine(containing text: String, within limit: Duration = .seconds(30)) async -> String? {
      let clock = ContinuousClock()
      let deadline = clock.now + limit
      while clock.now < deadline {
        if let line = stderrSeen.first(containing: text) { return line }
        try? await Task.sleep(for: .milliseconds(20))
      }
      return stderrSeen.first(containing: text)
    }

    /// Every standard-error line so far: what a failing test shows of the process's log.
    public var stderrLog: [String] { stderrSeen.all }

    /// Every standard-output line so far (whether or not ``stdoutLines`` is read).
    public var stdoutLog: [String] { stdoutSeen.all }

    /// The address a started `nsm registry` logs that it listens on.
    public func registryAddress() async throws -> ServiceAddress {
      // The parsing sits in a plain function: Swift 6.3.1 crashed splitting this coroutine
      // in release builds when it was written inline.
      let line = await stderrLine(containing: "address=")
      return try Self.address(in: line, log: stderrSeen.all)
    }

    private static func address(in line: String?, log: [String]) throws -> ServiceAddress {
      guard let line, let range = line.range(of: "address=") else {
        throw NSMError.unavailable("the registry did not log its address: \(log)")
      }
      return try ServiceAddress(parsing: String(line[range.upperBound...].prefix { $0 != " " }))
    }

    public func signal(_ signal: Int32) {
      kill(process.processIdentifier, signal)
    }

    /// Waits for exit; for a process whose output the test reads itself.
    public func waitForExit() async -> Int32 {
      var status: Int32 = -1
      for await code in finished { status = code }
      return status
    }

    /// Waits for exit and returns everything written.
    public func wait() async -> Result {
      async let out = stdoutLines.reduce(into: [String]()) { $0.append($1) }
      async let err = stderrLines.reduce(into: [String]()) { $0.append($1) }
      var status: Int32 = -1
      for await code in finished { status = code }
      let (o, e) = await (out, err)
      return Result(status: status, stdout: o.joined(separator: "\n"), stderr: e.joined(separator: "\n"))
    }
  }
}

/// Lines a process wrote, kept for lookups by content.
private final class LinesSeen: Sendable {
  private let lines = Mutex<[String]>([])
  func append(_ line: String) { lines.withLock { $0.append(line) } }
  func first(containing text: String) -> String? { lines.withLock { $0.first { $0.contains(text) } } }
  var all: [String] { lines.withLock { $0 } }
}
