import Foundation
import Logging
import NSMAPI
import NSMCore
import NSMPostgres
import NSMTesting
import Testing

/// TLS to the database when the URL asks for it.
@Suite("TLS to PostgreSQL", .serialized, .timeLimit(.minutes(2)))
struct TLSTests {
  static func withServer(_ body: (TestPostgres, String) async throws -> Void) async throws {
    let server = try await TestPostgres.start(tls: true)
    do {
      let plain = try await server.makeDatabase()
      try await body(server, plain)
      await server.stop()
    } catch {
      await server.stop()
      throw error
    }
  }

  static func usesTLS(_ database: PostgresDatabase) async throws -> Bool {
    let rows = try await database.client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    for try await ssl in rows.decode(Bool.self) { return ssl }
    return false
  }

  @Test func requireAndVerifyFullUseTLS() async throws {
    try await Self.withServer { server, plain in
      let certificate = try #require(server.certificatePath)
      let base = plain.replacingOccurrences(of: "sslmode=disable", with: "")
      for mode in ["sslmode=require", "sslmode=verify-full&sslrootcert=\(certificate)"] {
        try await withDatabase(base + mode) { database in
          let tls = try await Self.usesTLS(database)
          #expect(tls, "\(mode)")
          _ = try await database.endpoints.register(Fixtures.endpoint("nse-1"))
        }
      }
      try await withDatabase(plain) { database in
        let tls = try await Self.usesTLS(database)
        #expect(!tls, "sslmode=disable")
      }
    }
  }

  @Test func verifyFullRefusesAnUntrustedCertificate() async throws {
    try await Self.withServer { _, plain in
      let other = try await TestPostgres.start(tls: true)
      defer { Task { await other.stop() } }
      let wrongCA = try #require(other.certificatePath)
      let url = plain.replacingOccurrences(of: "sslmode=disable", with: "sslmode=verify-full&sslrootcert=\(wrongCA)")
      var options = PostgresDatabase.Options()
      options.deadline = .seconds(2)
      var logger = Logger(label: "tls")
      logger.logLevel = .critical
      let database = PostgresDatabase(
        url: try PostgresStoreURL(parsing: url, poolSize: 1),
        options: options,
        logger: logger
      )
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await database.client.run() }
        do {
          _ = try await database.endpoints.find(Registry_NetworkServiceEndpoint())
          Issue.record("connected despite an untrusted certificate")
        } catch let error as NSMError {
          #expect(error.code == .unavailable)
        }
        group.cancelAll()
      }
    }
  }
}
