public import NSMCore

extension DomainResolver: DomainDirectory {
  public func registryAddresses(of domain: String) async throws(NSMError) -> [ServiceAddress] {
    do {
      return try await registry(of: domain).map { .tcp(host: $0.address, port: Int($0.port)) }
    } catch {
      throw error.nsmError
    }
  }

  /// The first gateway endpoint; nil when the domain publishes none (NXDOMAIN, NODATA or an SRV
  /// target of `.`), which is what makes a domain floating. A `host:port` domain names a
  /// registry only: upstream would take the registry's address as the gateway too (a quirk that
  /// points data-plane traffic at a registry), here the URLs are left as found.
  public func gatewayURL(of domain: String) async throws(NSMError) -> String? {
    if Self.literal(domain) != nil { return nil }
    do {
      return try await proxy(of: domain).first.map { "tcp://\($0.hostPort)" }
    } catch {
      if error.nsmError.code == .notFound { return nil }
      throw error.nsmError
    }
  }
}
