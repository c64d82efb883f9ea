internal import Foundation
internal import NSMCore
internal import Synchronization

/// A grpc-go client (`Tests/Tools/grpc-go-probe`), the gRPC stack upstream NSM is built on, for
/// tests that must see how our servers treat such a client. Built once per test process with
/// Debian's `golang-go` and `golang-google-grpc-dev` in GOPATH mode (no module downloads).
public enum GRPCGoProbe {
  static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Tests/Tools/grpc-go-probe/main.go")

  private static let built = Mutex<Task<String, any Error>?>(nil)

  /// The path of the built probe.
  public static func executable() async throws -> String {
    let task = built.withLock { built in
      if let built { return built }
      let task = Task { try await build() }
      built = task
      return task
    }
    return try await task.value
  }

  private static func build() async throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-grpc-go-probe-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let binary = directory.appendingPathComponent("grpc-go-probe").path
    let go = ["/usr/bin/go", "/usr/lib/go/bin/go"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let go else {
      throw NSMError(.failedPrecondition, "go is not installed: run scripts/bootstrap.sh (golang-go)")
    }
    let (status, output) = try await runProgram(
      go,
      ["build", "-o", binary, source.path],
      environment: [
        "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": directory.appendingPathComponent("cache").path,
        "GOFLAGS": "",
      ]
    )
    guard status == 0 else {
      throw NSMError(.internal, "building the grpc-go probe failed (golang-google-grpc-dev installed?): \(output)")
    }
    return binary
  }

  /// Runs `grpc-go-probe mode arguments` and decodes the JSON line it prints; a probe still
  /// running after two minutes is killed, so a server that never answers fails the test.
  public static func run(_ mode: String, _ arguments: [String]) async throws -> [String: Any] {
    let (status, output) = try await runProgram("/usr/bin/timeout", ["120", try await executable(), mode] + arguments)
    guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
      let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    else {
      throw NSMError(.internal, "grpc-go-probe \(mode) failed (\(status)): \(output)")
    }
    return json
  }

  /// A file holding `bytes`, for the probe's `-request` flags; removed with the directory.
  public static func requestFile(_ bytes: [UInt8]) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-probe-request-\(UUID().uuidString)")
      .path
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
      throw NSMError(.internal, "cannot write \(path)")
    }
    return path
  }
}
