import NSMCore
import NSMSecurity
import Testing

/// The `gateway:` section of the domain policy file, as `nsm proxy --policy` decides with it.
@Suite("security: gateway policy")
struct GatewayPolicyTests {
  static let file = """
    domains: {a.nsm.test: [{identities: ["spiffe://nsm.a/*"], operations: [find]}]}
    gateway:
      accept_from: ["spiffe://nsm.b/nsmgr-proxy*"]
      inbound:
        - identities: ["spiffe://nsm.b/nsc-*"]
          services: [simple, "vpn@floating.nsm.test"]
      outbound:
        - identities: ["spiffe://nsm.a/nsc-1"]
          services: ["*@b.nsm.test"]
    """

  /// The denial `body` throws, nil when it allows.
  func denial(_ body: () throws -> Void) -> PolicyDenial? {
    do {
      try body()
      return nil
    } catch {
      return error as? PolicyDenial ?? PolicyDenial(rule: "not a denial", identity: "", reason: "\(error)")
    }
  }

  @Test func inboundNeedsAnAcceptedGatewayItsOwnClientsAndAGrant() throws {
    let policy = try DomainPolicy(yaml: Self.file, source: "policy.yaml").gateway
    let gateway = try SPIFFEID(parsing: "spiffe://nsm.b/nsmgr-proxy")
    #expect(denial { try policy.checkInbound(peer: gateway, client: "spiffe://nsm.b/nsc-1", service: "simple") } == nil)
    #expect(
      denial {
        try policy.checkInbound(peer: gateway, client: "spiffe://nsm.b/nsc-1", service: "vpn@floating.nsm.test")
      } == nil
    )

    let ungranted = denial { try policy.checkInbound(peer: gateway, client: "spiffe://nsm.b/nsc-1", service: "secret") }
    #expect(ungranted?.rule == "gateway_inbound")
    #expect(ungranted?.identity == "spiffe://nsm.b/nsc-1")
    #expect(ungranted?.description.contains("'secret'") == true, "\(String(describing: ungranted))")
    let other = denial { try policy.checkInbound(peer: gateway, client: "spiffe://nsm.b/admin", service: "simple") }
    #expect(other?.rule == "gateway_inbound")

    let stranger = try SPIFFEID(parsing: "spiffe://nsm.c/nsmgr-proxy")
    let unlisted = denial { try policy.checkInbound(peer: stranger, client: "spiffe://nsm.c/nsc-1", service: "simple") }
    #expect(unlisted?.rule == "gateway_peer")
    #expect(unlisted?.description.contains("accept_from") == true)
    // B's gateway cannot bring in a client of another trust domain (it could make it up).
    let forged = denial { try policy.checkInbound(peer: gateway, client: "spiffe://nsm.a/nsc-1", service: "simple") }
    #expect(forged?.rule == "gateway_peer")
    #expect(forged?.description.contains("only its own trust domain's clients") == true)
  }

  @Test func outboundNeedsAGrantForTheClientAndTheQualifiedService() throws {
    let policy = try DomainPolicy(yaml: Self.file, source: "policy.yaml").gateway
    #expect(denial { try policy.checkOutbound(client: "spiffe://nsm.a/nsc-1", service: "simple@b.nsm.test") } == nil)
    let elsewhere = denial { try policy.checkOutbound(client: "spiffe://nsm.a/nsc-1", service: "simple@c.nsm.test") }
    #expect(elsewhere?.rule == "gateway_outbound")
    #expect(elsewhere?.description.contains("'simple@c.nsm.test'") == true)
    let otherClient = denial { try policy.checkOutbound(client: "spiffe://nsm.a/nsc-2", service: "simple@b.nsm.test") }
    #expect(otherClient?.rule == "gateway_outbound")
  }

  @Test func aFileWithoutAGatewaySectionLetsNothingCrossAndTheDefaultIsTheOwnTrustDomain() throws {
    let silent = try DomainPolicy(yaml: "forward_to: ['*']", source: "policy.yaml").gateway
    #expect(denial { try silent.checkOutbound(client: "spiffe://nsm.a/nsc-1", service: "s@b.nsm.test") } != nil)

    let own = GatewayPolicy.ownTrustDomainOnly("nsm.a")
    #expect(denial { try own.checkOutbound(client: "spiffe://nsm.a/nsc-1", service: "s@b.nsm.test") } == nil)
    #expect(denial { try own.checkOutbound(client: "spiffe://nsm.b/nsc-1", service: "s@b.nsm.test") } != nil)
    let ownGateway = try SPIFFEID(parsing: "spiffe://nsm.a/proxy-2")
    #expect(denial { try own.checkInbound(peer: ownGateway, client: "spiffe://nsm.a/nsc-1", service: "s") } == nil)
    let foreign = try SPIFFEID(parsing: "spiffe://nsm.b/proxy")
    #expect(
      denial { try own.checkInbound(peer: foreign, client: "spiffe://nsm.b/nsc-1", service: "s") }?.rule
        == "gateway_peer"
    )
  }
}
