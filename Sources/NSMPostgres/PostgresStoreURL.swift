internal import Foundation
internal import NIOSSL
public import NSMCore
public import PostgresNIO

/// `postgres://user:password@host:port/database?sslmode=...`, as libpq and every PostgreSQL
/// tool read it, turned into a PostgresNIO client configuration.
///
/// - `sslmode`: `disable`; `prefer` (the default, as libpq: TLS when the server offers it, no
///   certificate check); `require` (TLS, no certificate check); `verify-ca` (the chain must lead to
///   `sslrootcert` or the system roots); `verify-full` (and the host name must match).
/// - `sslrootcert=PATH`: the CA bundle to verify against.
/// - `host=/path/to/dir` in the query: connect through the unix socket in that folder.
public struct PostgresStoreURL: Sendable, CustomStringConvertible {
  public var configuration: PostgresClient.Configuration
  /// The URL with its password hidden, for logs.
  public let description: String

  /// More connections than this would exceed any PostgreSQL server's `max_connections` default
  /// many times over: a typo, refused before it exhausts the server.
  public static let maxPoolSize = 1000

  public init(parsing text: String, poolSize: Int) throws(NSMError) {
    guard let components = URLComponents(string: text),
      let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
    else {
      throw .invalidArgument("store '\(Self.redacted(text))' is not a postgres://user:password@host:port/database URL")
    }
    let query = Dictionary(
      (components.queryItems ?? []).map { ($0.name, $0.value ?? "") },
      uniquingKeysWith: { $1 }
    )
    let user = components.percentEncodedUser?.removingPercentEncoding ?? "postgres"
    let password = components.percentEncodedPassword?.removingPercentEncoding
    var database = String(components.path.drop { $0 == "/" })
    if database.isEmpty { database = user }

    var configuration: PostgresClient.Configuration
    if let socketFolder = query["host"], socketFolder.hasPrefix("/") {
      let port = components.port ?? 5432
      configuration = PostgresClient.Configuration(
        unixSocketPath: "\(socketFolder)/.s.PGSQL.\(port)",
        username: user,
        password: password,
        database: database
      )
    } else {
      guard let host = components.host, !host.isEmpty else {
        throw .invalidArgument("store URL '\(Self.redacted(text))' has no host")
      }
      let bareHost = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
      configuration = PostgresClient.Configuration(
        host: bareHost,
        port: components.port ?? 5432,
        username: user,
        password: password,
        database: database,
        tls: try Self.tls(mode: query["sslmode"] ?? "prefer", rootCertificate: query["sslrootcert"])
      )
    }
    guard (1...Self.maxPoolSize).contains(poolSize) else {
      throw .invalidArgument("the store pool size must be between 1 and \(Self.maxPoolSize), not \(poolSize)")
    }
    // One more than asked: the change feed's LISTEN holds a connection for good, and the
    // store's calls must still get `poolSize` of their own.
    configuration.options.maximumConnections = poolSize + 1
    configuration.options.connectTimeout = .seconds(3)
    // The store's prepared statements (a write, the change feed's read) have one good plan
    // whatever their parameters; under load PostgreSQL otherwise went back to planning the
    // feed's read on every call (custom plans looked cheaper to its estimate).
    configuration.options.additionalStartupParameters = [("plan_cache_mode", "force_generic_plan")]
    self.configuration = configuration
    description = Self.redacted(text)
  }

  static func tls(mode: String, rootCertificate: String?) throws(NSMError) -> PostgresClient.Configuration.TLS {
    var tls = TLSConfiguration.makeClientConfiguration()
    if let rootCertificate {
      tls.trustRoots = .file(rootCertificate)
    }
    switch mode {
    case "disable":
      return .disable
    case "allow", "prefer":
      tls.certificateVerification = .none
      return .prefer(tls)
    case "require":
      tls.certificateVerification = .none
      return .require(tls)
    case "verify-ca":
      tls.certificateVerification = .noHostnameVerification
      return .require(tls)
    case "verify-full":
      tls.certificateVerification = .fullVerification
      return .require(tls)
    default:
      throw .invalidArgument(
        "sslmode '\(mode)' is not one of disable, allow, prefer, require, verify-ca, verify-full"
      )
    }
  }

  /// The URL with any password replaced, so it can be logged.
  static func redacted(_ text: String) -> String {
    guard var components = URLComponents(string: text), components.password != nil else { return text }
    components.password = "***"
    return components.string ?? "postgres://***"
  }
}
