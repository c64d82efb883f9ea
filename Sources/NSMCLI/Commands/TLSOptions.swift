internal import ArgumentParser
internal import Foundation
internal import Logging
internal import NSMCore
internal import NSMRegistry
internal import NSMSecurity
internal import NSMTransport

/// Where this workload's X.509-SVID is, or `--insecure` for plaintext; shared by the registry
/// and the operator commands.
struct TLSOptions: ParsableArguments {
  @Option(
    help:
      "A folder in spire-agent's layout: svid.0.pem, svid.0.key, bundle.0.pem, federated_bundle.*.pem (env NSM_TLS_DIR)."
  )
  var tlsDir: String?

  @Option(help: "The SVID certificate chain, PEM (env NSM_TLS_CERT).") var tlsCert: String?
  @Option(help: "The SVID private key, PEM (env NSM_TLS_KEY).") var tlsKey: String?
  @Option(help: "A trust bundle, PEM; repeatable (env NSM_TLS_BUNDLE, comma-separated).") var tlsBundle: [String] = []

  @Flag(help: "Plaintext, no identities and no policies: for local development only (env NSM_INSECURE=true).")
  var insecure = false

  @Option(help: "Longest lifetime of a path token this workload signs (env NSM_MAX_TOKEN_LIFETIME; default 10m).")
  var maxTokenLifetime: String?

  /// The SVID files; nil with `--insecure`. Without either: a usage error.
  func files() throws -> SVID.Files? {
    let flagsGiven = tlsDir != nil || tlsCert != nil || tlsKey != nil || !tlsBundle.isEmpty
    if insecure && flagsGiven { throw ValidationError("--insecure and --tls-* exclude each other") }
    if insecure { return nil }
    // A flag beats every environment variable; NSM_INSECURE beats the NSM_TLS_* variables.
    if !flagsGiven, ["1", "true", "yes"].contains(setting(nil, env: "NSM_INSECURE")?.lowercased() ?? "") {
      return nil
    }
    let dir = flagsGiven ? tlsDir : setting(nil, env: "NSM_TLS_DIR")
    let cert = flagsGiven ? tlsCert : setting(nil, env: "NSM_TLS_CERT")
    let key = flagsGiven ? tlsKey : setting(nil, env: "NSM_TLS_KEY")
    var bundles = tlsBundle
    if !flagsGiven, let env = setting(nil, env: "NSM_TLS_BUNDLE") {
      bundles = env.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }
    if let dir {
      var files: SVID.Files
      do {
        files = try SVID.Files.directory(dir)
      } catch {
        throw ValidationError("--tls-dir / NSM_TLS_DIR: \(error.message)")
      }
      if let cert { files.certificate = cert }
      if let key { files.key = key }
      if !bundles.isEmpty { files.bundles = bundles }
      return files
    }
    guard let cert, let key, !bundles.isEmpty else {
      throw ValidationError(
        "no identity: give --tls-dir DIR (or --tls-cert, --tls-key and --tls-bundle; env NSM_TLS_*), or --insecure for plaintext"
      )
    }
    return SVID.Files(certificate: cert, key: key, bundles: bundles)
  }

  func identity(logger: Logger) throws -> WorkloadIdentity? {
    guard let files = try files() else { return nil }
    do {
      return try WorkloadIdentity(files: files, logger: logger)
    } catch {
      throw ValidationError("--tls-* / NSM_TLS_*: \(error.message)")
    }
  }

  func tokenLifetime() throws -> Duration {
    guard let text = setting(maxTokenLifetime, env: "NSM_MAX_TOKEN_LIFETIME") else { return .seconds(600) }
    return try parseSetting(text, flag: "max-token-lifetime", env: "NSM_MAX_TOKEN_LIFETIME") {
      let lifetime = try GoDuration.parse($0)
      guard lifetime > .zero else { throw NSMError.invalidArgument("the token lifetime must be positive") }
      return lifetime
    }
  }
}
