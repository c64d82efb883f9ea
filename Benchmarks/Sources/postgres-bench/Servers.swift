import BenchSupport
import Foundation
import NSMTesting
import Synchronization

/// The PostgreSQL server one pass of the benchmark runs against.
struct BenchServer: Sendable {
  /// How the server was started, for the report.
  let label: String
  let makeDatabase: @Sendable () async throws -> String
  let stop: @Sendable () async -> Void

  /// `TestPostgres.start()` (NSMTesting): initdb in a temporary folder, postgres with
  /// `-c fsync=off` (as the test suite runs it).
  static func testPostgres(settings: [String] = []) async throws -> BenchServer {
    let server = try await TestPostgres.start(settings: settings)
    return BenchServer(
      label: "TestPostgres.start() (Sources/NSMTesting/TestPostgres.swift: initdb, postgres -c fsync=off)",
      makeDatabase: { try await server.makeDatabase() },
      stop: { await server.stop() }
    )
  }

  /// The same kind of throwaway server with `fsync=on` and `synchronous_commit=on`
  /// (PostgreSQL's defaults): every commit waits for its WAL flush.
  static func durable(settings: [String] = []) async throws -> BenchServer {
    let server = try await TestPostgres.start(durable: true, settings: settings)
    return BenchServer(
      label: "TestPostgres.start(durable: true) (initdb, postgres -c fsync=on -c synchronous_commit=on)",
      makeDatabase: { try await server.makeDatabase() },
      stop: { await server.stop() }
    )
  }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with a server in it.
func postgresBinaries() throws -> String {
  let root = "/usr/lib/postgresql"
  let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
  for version in versions.sorted(by: >)
  where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
    return "\(root)/\(version)/bin"
  }
  throw BenchError("no PostgreSQL server binaries under \(root)")
}

/// The median time of `count` 8 KiB writes each followed by `fdatasync`, in a file in the
/// temporary folder (the same file system the clusters' data folders are on): what one WAL
/// flush costs on this disk, at most.
func fdatasyncProbe(count: Int = 200) -> Duration? {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("nsm-bench-fsync-\(getpid())").path
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard fd >= 0 else { return nil }
  defer {
    close(fd)
    unlink(path)
  }
  let block = [UInt8](repeating: 0x5A, count: 8192)
  let clock = ContinuousClock()
  var samples: [Duration] = []
  for _ in 0..<count {
    let start = clock.now
    let written = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, 8192, 0) }
    guard written == 8192, fdatasync(fd) == 0 else { return nil }
    samples.append(clock.now - start)
  }
  samples.sort()
  return samples[samples.count / 2]
}
