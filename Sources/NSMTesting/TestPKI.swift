public import Foundation
internal import Logging
public import NSMSecurity
public import NSMTransport

/// Development CAs for a test's trust domains and SVIDs in spire-agent's file layout, all in
/// one temporary folder removed when the value goes away.
public final class TestPKI: Sendable {
  public let folder: String
  public let authorities: [String: CertificateAuthority]

  public init(trustDomains: [String]) throws {
    folder =
      FileManager.default.temporaryDirectory.appendingPathComponent("nsm-pki-\(UUID().uuidString.prefix(8))").path
    var authorities: [String: CertificateAuthority] = [:]
    for domain in trustDomains { authorities[domain] = try CertificateAuthority.create(trustDomain: domain) }
    self.authorities = authorities
  }

  /// Writes an SVID for `id`, trusting its own trust domain and `federated` ones, and returns
  /// its folder.
  @discardableResult
  public func writeSVID(_ id: String, federated: [String] = [], lifetime: TimeInterval = 3600, into name: String? = nil)
    throws -> String
  {
    let spiffe = try SPIFFEID(parsing: id)
    guard let authority = authorities[spiffe.trustDomain] else { throw TestPostgresError("no CA for \(id)") }
    let directory = "\(folder)/\(name ?? spiffe.description.replacingOccurrences(of: "/", with: "_"))"
    try authority.writeSVID(
      spiffe,
      to: directory,
      federated: federated.compactMap { authorities[$0] },
      lifetime: lifetime
    )
    return directory
  }

  /// A workload identity read from a fresh SVID for `id`.
  public func identity(_ id: String, federated: [String] = [], lifetime: TimeInterval = 3600) throws -> WorkloadIdentity
  {
    let directory = try writeSVID(id, federated: federated, lifetime: lifetime)
    var logger = Logger(label: "test-identity")
    logger.logLevel = .warning
    return try WorkloadIdentity(files: .directory(directory), logger: logger)
  }

  deinit {
    try? FileManager.default.removeItem(atPath: folder)
  }
}
