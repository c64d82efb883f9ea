internal import ArgumentParser
internal import Foundation
internal import NSMAPI
internal import NSMCore
internal import NSMSecurity

/// `nsm policy check` and `nsm policy connect`: explain what a registry or a gateway would
/// decide, without one.
struct PolicyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "policy",
    abstract: "Explain registry and gateway policy decisions.",
    subcommands: [PolicyCheckCommand.self, PolicyConnectCommand.self]
  )
}

/// `nsm policy connect`: the `gateway:` section's decision on one connection.
struct PolicyConnectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "connect",
    abstract:
      "Would a gateway let this client's connection to this service cross? Exit 0 if allowed, 1 if denied.",
    discussion: """
      Without --from-gateway the connection leaves this domain (--service names its domain: \
      simple@b.example.com); with it, another domain's gateway brings it in (--service as named \
      inside this domain: simple, or a floating domain's vpn@floating.example.com).
      """
  )

  @Option(help: "The policy file (env NSM_POLICY_FILE); without one, the default policy of --trust-domain.")
  var policy: String?
  @Option(help: "The gateway's trust domain (for the default policy).") var trustDomain: String?
  @Option(help: "The SPIFFE ID of the client that starts the connection.") var client: String
  @Option(help: "The network service.") var service: String
  @Option(help: "The SPIFFE ID of the other domain's gateway that brings the connection in.")
  var fromGateway: String?

  func run() throws {
    _ = try parseSetting(client, flag: "client", env: "-") { try SPIFFEID(parsing: $0) }
    try parseSetting(service, flag: "service", env: "-") { try NameRules.validate($0, field: "--service") }
    let gateway: GatewayPolicy
    if let path = setting(policy, env: "NSM_POLICY_FILE") {
      gateway = try parseSetting(path, flag: "policy", env: "NSM_POLICY_FILE") { try DomainPolicy.load(file: $0) }
        .gateway
    } else if let trustDomain {
      gateway = .ownTrustDomainOnly(trustDomain)
    } else {
      throw ValidationError("give --policy FILE, or --trust-domain for the default policy")
    }
    do {
      if let fromGateway {
        let peer = try parseSetting(fromGateway, flag: "from-gateway", env: "-") { try SPIFFEID(parsing: $0) }
        try gateway.checkInbound(peer: peer, client: client, service: service)
        print("allowed: \(gateway.source) lets \(peer) bring \(client)'s connection to '\(service)' in")
      } else {
        guard service.contains("@") else {
          throw ValidationError("a connection out of this domain names the service's domain: --service NAME@DOMAIN")
        }
        try gateway.checkOutbound(client: client, service: service)
        print(
          "allowed to leave: \(gateway.source) lets \(client) connect to '\(service)'; its domain's gateway decides next"
        )
      }
    } catch let denial as PolicyDenial {
      print("denied: \(denial)")
      throw ExitCode.failure
    }
  }
}

struct PolicyCheckCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "check",
    abstract: "Would this identity be allowed this operation on this name? Exit 0 if allowed, 1 if denied."
  )

  @Option(help: "The policy file (env NSM_POLICY_FILE); without one, the default policy of --trust-domain.")
  var policy: String?
  @Option(help: "The registry's trust domain (for the default policy, and the forwarding rule).")
  var trustDomain: String?
  @Option(help: "The registry's SPIFFE ID (the default policy accepts forwarded calls from it alone).")
  var registryID: String?
  @Option(help: "The SPIFFE ID of the workload that starts the call.") var identity: String
  @Option(help: "find, register or unregister.") var op: String
  @Option(help: "The name as the caller writes it: x, x@own-domain or x@other-domain.") var name: String
  @Option(help: "The SPIFFE ID of the registry that forwards the call here, if it is forwarded.")
  var forwardedBy: String?
  @Option(help: "The registry's own domain (env NSM_DOMAIN; default cluster.local).") var domain: String?
  @Option(name: .customLong("floating-domain"), help: "A floating domain the registry hosts; repeatable.")
  var floatingDomains: [String] = []

  func run() throws {
    guard let operation = RegistryOperation(rawValue: op) else {
      throw ValidationError("--op must be find, register or unregister")
    }
    _ = try parseSetting(identity, flag: "identity", env: "-") { try SPIFFEID(parsing: $0) }
    let served = ServedDomains(
      primary: setting(domain, env: "NSM_DOMAIN") ?? "cluster.local",
      floating: floatingDomains
    )
    let domainPolicy: DomainPolicy
    if let path = setting(policy, env: "NSM_POLICY_FILE") {
      domainPolicy = try parseSetting(path, flag: "policy", env: "NSM_POLICY_FILE") { try DomainPolicy.load(file: $0) }
    } else if let trustDomain {
      domainPolicy = .ownTrustDomainOnly(trustDomain, registryID: registryID, served: served)
    } else {
      throw ValidationError("give --policy FILE, or --trust-domain for the default policy")
    }
    let service = Registry_NetworkService.with { $0.name = name }
    let route = try parseSetting(name, flag: "name", env: "-") { _ in
      try NameRules.validate(name, field: "--name")
      return try DomainTranslation.route(service, served: served)
    }
    do {
      if let forwardedBy {
        let forwarder = try parseSetting(forwardedBy, flag: "forwarded-by", env: "-") { try SPIFFEID(parsing: $0) }
        try domainPolicy.checkForwarder(forwarder, originator: identity)
      }
      switch route {
      case .local(let domain, _):
        let local = DomainTranslation.strip(name, domain: domain)
        try domainPolicy.checkLocal(identity: identity, operation: operation, name: local, domain: domain)
        print(
          "allowed: \(domainPolicy.source) grants \(identity) \(operation.rawValue) of '\(local)' in domain '\(domain)', served here"
        )
      case .foreign(let domain):
        if forwardedBy != nil {
          print("denied: a forwarded call is never forwarded again (the registry refuses it as a forwarding loop)")
          throw ExitCode.failure
        }
        if let trustDomain, (try? SPIFFEID(parsing: identity))?.trustDomain != trustDomain {
          print("denied: a registry forwards only calls of its own trust domain's (\(trustDomain)) workloads")
          throw ExitCode.failure
        }
        try domainPolicy.checkForward(identity: identity, operation: operation, domain: domain)
        print(
          "allowed to leave: '\(name)' is forwarded to the registry of '\(domain)', whose own policy then decides"
        )
      }
    } catch let denial as PolicyDenial {
      print("denied: \(denial)")
      throw ExitCode.failure
    }
  }
}
