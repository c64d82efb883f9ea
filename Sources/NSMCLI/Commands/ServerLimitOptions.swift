internal import ArgumentParser
internal import NSMCore
internal import NSMTransport

/// What a server command allows its clients (docs/architecture.md, "Transport limits"); shared
/// by every command that serves gRPC.
struct ServerLimitOptions: ParsableArguments {
  @Option(
    help: "Calls open at once on one client connection, advertised to clients (env NSM_MAX_STREAMS; default 4096)."
  )
  var maxStreams: String?

  @Option(help: "Client connections open at once (env NSM_MAX_CONNECTIONS; default 10000).")
  var maxConnections: String?

  @Option(
    help:
      "How long a new connection gets to complete its TLS and HTTP/2 handshakes (env NSM_HANDSHAKE_TIMEOUT; default 10s)."
  )
  var handshakeTimeout: String?

  @Option(help: "A connection with no call open this long is closed (env NSM_MAX_CONNECTION_IDLE; default 5m).")
  var maxConnectionIdle: String?

  @Option(help: "The largest request message, in bytes (env NSM_MAX_REQUEST_BYTES; default 4194304).")
  var maxRequestBytes: String?

  func apply(to limits: inout ServerLimits) throws {
    if let value = try count(maxStreams, flag: "max-streams", env: "NSM_MAX_STREAMS", range: 1...(1 << 31 - 1)) {
      limits.maxConcurrentStreams = value
    }
    if let value = try count(maxConnections, flag: "max-connections", env: "NSM_MAX_CONNECTIONS", range: 1...1_000_000)
    {
      limits.maxConnections = value
    }
    if let value = try duration(handshakeTimeout, flag: "handshake-timeout", env: "NSM_HANDSHAKE_TIMEOUT") {
      limits.handshakeTimeout = value
    }
    if let value = try duration(maxConnectionIdle, flag: "max-connection-idle", env: "NSM_MAX_CONNECTION_IDLE") {
      limits.maxIdleTime = value
    }
    // A message must hold at least a record; beyond 64 MiB is a typo.
    if let value = try count(
      maxRequestBytes,
      flag: "max-request-bytes",
      env: "NSM_MAX_REQUEST_BYTES",
      range: Limits.maxRecordBytes...(64 << 20)
    ) {
      limits.maxRequestBytes = value
    }
  }

  private func count(_ flag: String?, flag name: String, env: String, range: ClosedRange<Int>) throws -> Int? {
    guard let text = setting(flag, env: env) else { return nil }
    return try parseSetting(text, flag: name, env: env) {
      guard DomainName.isDecimal($0), let value = Int($0), range.contains(value) else {
        throw NSMError.invalidArgument("'\($0)' is not a number from \(range.lowerBound) to \(range.upperBound)")
      }
      return value
    }
  }

  private func duration(_ flag: String?, flag name: String, env: String) throws -> Duration? {
    guard let text = setting(flag, env: env) else { return nil }
    return try parseSetting(text, flag: name, env: env) {
      let value = try GoDuration.parse($0)
      guard value > .zero else { throw NSMError.invalidArgument("'\($0)' must be positive") }
      return value
    }
  }
}
