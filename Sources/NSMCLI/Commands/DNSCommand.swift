internal import ArgumentParser
internal import Foundation
internal import NSMCore
internal import NSMDNS

/// `nsm dns`: what a registry would dial for a domain, and what a domain must publish.
struct DNSCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dns",
    abstract: "Look up a domain's registry and proxy gateway, or print the records a domain publishes.",
    subcommands: [DNSLookupCommand.self, DNSRecordsCommand.self]
  )
}

/// `--dns-server`, shared by everything that resolves domains.
struct DNSOptions: ParsableArguments {
  @Option(
    name: .customLong("dns-server"),
    help: "A name server IP[:PORT]; repeatable (env NSM_DNS_SERVERS, comma-separated; default: /etc/resolv.conf)."
  )
  var dnsServers: [String] = []

  @Option(help: "DNS answers cached at once (env NSM_DNS_CACHE_SIZE; default 4096).")
  var dnsCacheSize: String?

  func resolverConfiguration() throws -> DomainResolver.Configuration {
    guard let configuration = try optionalResolverConfiguration() else {
      throw ValidationError("no name server: /etc/resolv.conf lists none; give --dns-server IP[:PORT]")
    }
    return configuration
  }

  /// nil when no name server is given and /etc/resolv.conf lists none.
  func optionalResolverConfiguration() throws -> DomainResolver.Configuration? {
    var texts = dnsServers
    if texts.isEmpty, let env = setting(nil, env: "NSM_DNS_SERVERS") {
      texts = env.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }
    let servers =
      try texts.isEmpty
      ? NameServer.fromResolvConf()
      : texts.map { text in
        try parseSetting(text, flag: "dns-server", env: "NSM_DNS_SERVERS") { try NameServer(parsing: $0) }
      }
    guard !servers.isEmpty else { return nil }
    var configuration = DomainResolver.Configuration(servers: servers)
    if let text = setting(dnsCacheSize, env: "NSM_DNS_CACHE_SIZE") {
      configuration.maxCacheEntries = try parseSetting(text, flag: "dns-cache-size", env: "NSM_DNS_CACHE_SIZE") {
        guard DomainName.isDecimal($0), let size = Int($0), (1...1_000_000).contains(size) else {
          throw NSMError.invalidArgument("'\($0)' is not a number from 1 to 1000000")
        }
        return size
      }
    }
    return configuration
  }
}

struct DNSLookupCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lookup",
    abstract: "Print the registry and proxy gateway endpoints a registry would dial for DOMAIN, in order."
  )

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case table, json
  }

  @Argument(help: "A domain (DNS name), or a host:port literal.") var domain: String
  @OptionGroup var dns: DNSOptions
  @Option(name: .shortAndLong, help: "table or json.") var output: Format = .table

  func run() async throws {
    do {
      try DomainName.validate(domain)
    } catch {
      throw ValidationError(error.message)
    }
    let resolver = DomainResolver(configuration: try dns.resolverConfiguration())
    // Both at once: a dead name server costs one deadline, not two.
    async let registry = Self.resolve(.registry, of: domain, with: resolver)
    async let proxy = Self.resolve(.proxy, of: domain, with: resolver)
    let results = await [(DiscoveryNames.Service.registry, registry), (.proxy, proxy)]
    switch output {
    case .table: emit(table(results))
    case .json: emit(try json(results))
    }
    let resolvedNothing = results.allSatisfy { if case .failure = $0.1 { true } else { false } }
    if resolvedNothing {
      for case (_, .failure(let error)) in results { printError("error: \(error)") }
      throw ExitCode.failure
    }
  }

  private static func resolve(
    _ service: DiscoveryNames.Service,
    of domain: String,
    with resolver: DomainResolver
  ) async -> Result<[DomainResolver.Endpoint], DNSError> {
    do {
      return .success(try await resolver.endpoints(service, of: domain))
    } catch {
      return .failure(error)
    }
  }

  private func table(_ results: [(DiscoveryNames.Service, Result<[DomainResolver.Endpoint], DNSError>)]) -> String {
    var rows: [[String]] = []
    var notes: [String] = []
    for (service, result) in results {
      switch result {
      case .success(let endpoints):
        for (index, endpoint) in endpoints.enumerated() {
          rows.append([
            service.rawValue, String(index + 1), endpoint.hostPort, String(endpoint.priority), String(endpoint.weight),
            String(endpoint.ttl), endpoint.target, endpoint.form.rawValue,
          ])
        }
      case .failure(let error):
        notes.append("\(service.rawValue): none: \(error)")
      }
    }
    let header = ["SERVICE", "ORDER", "ENDPOINT", "PRIORITY", "WEIGHT", "TTL", "TARGET", "FORM"]
    return (rows.isEmpty ? "" : ResourceTable.render(rows, header: header)) + notes.map { $0 + "\n" }.joined()
  }

  private func json(_ results: [(DiscoveryNames.Service, Result<[DomainResolver.Endpoint], DNSError>)]) throws -> String
  {
    var object: [String: Any] = ["domain": domain]
    for (service, result) in results {
      switch result {
      case .success(let endpoints):
        object[service.rawValue] = [
          "endpoints": endpoints.map {
            [
              "address": $0.address, "port": Int($0.port), "priority": Int($0.priority), "weight": Int($0.weight),
              "ttl": Int($0.ttl), "target": $0.target, "form": $0.form.rawValue,
            ] as [String: Any]
          }
        ]
      case .failure(let error):
        object[service.rawValue] = ["error": error.description, "kind": "\(error.kind)"]
      }
    }
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}

struct DNSRecordsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "records",
    abstract: "Print the zone-file lines DOMAIN must publish for its registry (and proxy gateway), in both forms."
  )

  @Option(help: "The domain that publishes.") var domain: String
  @Option(help: "The registry's HOST:PORT (an address, or a host name that resolves).") var registry: String
  @Option(help: "The proxy gateway's HOST:PORT; a floating domain has none.") var proxy: String?
  @Option(help: "TTL of the records, in seconds.") var ttl: UInt32 = 300

  func run() throws {
    do {
      let lines = try ZoneRecords.lines(
        domain: domain,
        registry: try ZoneRecords.Endpoint(parsing: registry),
        proxy: try proxy.map { try ZoneRecords.Endpoint(parsing: $0) },
        ttl: ttl
      )
      emit(lines.joined(separator: "\n") + "\n")
    } catch let error as NSMError {
      throw ValidationError(error.message)
    }
  }
}
