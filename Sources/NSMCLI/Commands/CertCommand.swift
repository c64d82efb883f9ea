internal import ArgumentParser
internal import Foundation
internal import NSMCore
internal import NSMSecurity

/// `nsm cert`: development CAs and X.509-SVIDs in spire-agent's file layout, so demos and tests
/// run with mTLS without SPIRE.
struct CertCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cert",
    abstract: "Create development CAs (one per trust domain) and X.509-SVIDs in spire-agent's file layout.",
    discussion: """
      Writes DIR/ca/TRUST-DOMAIN/{ca.pem,ca.key} once per trust domain (kept on later runs) and, per
      --svid, DIR/TRUST-DOMAIN/PATH/{svid.0.pem,svid.0.key,bundle.0.pem,federated_bundle.0.N.pem}:
      every SVID trusts the CAs of all trust domains in DIR, as federated SPIRE servers would.
      Use the folder with `nsm registry --tls-dir` or `nsm get --tls-dir`. Not for production.
      """
  )

  @Option(help: "Where to write.") var out: String
  @Option(help: "A SPIFFE ID to issue an SVID for, e.g. spiffe://nsm.a/registry; repeatable.")
  var svid: [String] = []
  @Option(help: "Create the CA of this trust domain even without an SVID in it; repeatable.")
  var trustDomain: [String] = []
  @Option(help: "SVID lifetime, e.g. 1h, 24h (default 24h).") var lifetime: String = "24h"

  func run() throws {
    let ids = try svid.map { text in try parseSetting(text, flag: "svid", env: "-") { try SPIFFEID(parsing: $0) } }
    let seconds = try parseSetting(lifetime, flag: "lifetime", env: "-") { try GoDuration.parse($0) }
    var domains = Set(trustDomain)
    for id in ids { domains.insert(id.trustDomain) }
    guard !domains.isEmpty else { throw ValidationError("give --svid or --trust-domain") }

    var authorities: [String: CertificateAuthority] = [:]
    for domain in domains.sorted() {
      let folder = "\(out)/ca/\(domain)"
      if FileManager.default.fileExists(atPath: "\(folder)/ca.pem") {
        authorities[domain] = try CertificateAuthority.load(directory: folder)
      } else {
        let authority = try CertificateAuthority.create(trustDomain: domain)
        try authority.write(to: folder)
        authorities[domain] = authority
        print("ca \(domain): \(folder)")
      }
    }
    // Earlier runs' CAs too: an SVID issued now trusts every trust domain of DIR.
    let existing = (try? FileManager.default.contentsOfDirectory(atPath: "\(out)/ca")) ?? []
    for domain in existing where authorities[domain] == nil {
      authorities[domain] = try? CertificateAuthority.load(directory: "\(out)/ca/\(domain)")
    }
    for id in ids {
      guard let authority = authorities[id.trustDomain] else { continue }
      let folder = "\(out)/\(id.trustDomain)\(id.path)"
      let federated = authorities.filter { $0.key != id.trustDomain }.sorted { $0.key < $1.key }.map(\.value)
      try authority.writeSVID(id, to: folder, federated: federated, lifetime: seconds.timeInterval)
      print("svid \(id): \(folder)")
    }
  }
}
