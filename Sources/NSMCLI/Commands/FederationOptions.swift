internal import ArgumentParser
internal import Foundation
internal import NSMCore
internal import NSMDNS
internal import NSMRegistry
internal import NSMTransport

/// How `nsm registry` reaches other domains and which floating domains it hosts.
struct FederationOptions: ParsableArguments {
  @OptionGroup var dns: DNSOptions

  @Option(
    name: .customLong("floating-domain"),
    help:
      "A floating domain this registry hosts besides its own; repeatable (env NSM_FLOATING_DOMAINS, comma-separated)."
  )
  var floatingDomains: [String] = []

  @Option(
    help:
      "tcp://host:port other domains reach this domain's endpoints through (env NSM_PUBLIC_URL; default: the gateway record this domain publishes)."
  )
  var publicURL: String?

  @Option(
    name: .customLong("cluster-label"),
    help:
      "NAME=VALUE added to endpoints registered into other domains; repeatable (env NSM_CLUSTER_LABELS, comma-separated)."
  )
  var clusterLabels: [String] = []

  @Option(help: "Deadline of a forwarded call whose caller set none (env NSM_FORWARD_TIMEOUT; default 15s).")
  var forwardTimeout: String?

  func apply(to configuration: inout RegistryConfiguration) throws {
    var federation = FederationConfiguration()
    federation.floatingDomains = try settingList(floatingDomains, env: "NSM_FLOATING_DOMAINS").map { text in
      try parseSetting(text, flag: "floating-domain", env: "NSM_FLOATING_DOMAINS") {
        try DomainName.validate($0)
        guard DomainName.splitHostPort($0) == nil else {
          throw NSMError.invalidArgument("'\($0)' is an address; a floating domain is a DNS name")
        }
        return $0
      }
    }
    if let text = setting(publicURL, env: "NSM_PUBLIC_URL") {
      federation.publicURL = try ConnectSettings.publicURL(text)
    }
    var labels: [String: String] = [:]
    for text in settingList(clusterLabels, env: "NSM_CLUSTER_LABELS") {
      let pair = try parseSetting(text, flag: "cluster-label", env: "NSM_CLUSTER_LABELS") {
        guard let equals = $0.firstIndex(of: "="), equals != $0.startIndex else {
          throw NSMError.invalidArgument("'\($0)' is not NAME=VALUE")
        }
        let pair = (String($0[..<equals]), String($0[$0.index(after: equals)...]))
        try LabelRules.validate([pair.0: pair.1], field: "cluster label")
        return pair
      }
      labels[pair.0] = pair.1
    }
    federation.clusterLabels = labels
    if let text = setting(forwardTimeout, env: "NSM_FORWARD_TIMEOUT") {
      federation.forwardTimeout = try parseSetting(text, flag: "forward-timeout", env: "NSM_FORWARD_TIMEOUT") {
        let timeout = try GoDuration.parse($0)
        guard timeout > .zero else { throw NSMError.invalidArgument("the forward timeout must be positive") }
        return timeout
      }
    }
    if let resolver = try dns.optionalResolverConfiguration() {
      federation.directory = DomainResolver(configuration: resolver)
    }
    configuration.federation = federation
  }

}
