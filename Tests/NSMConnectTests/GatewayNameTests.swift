import NSMCore
import Testing

@testable import NSMConnect

/// How a gateway reads `endpoint@domain` names (reference §2.4).
struct GatewayNameTests {
  @Test func anEndpointNameSplitsAtItsLastAt() throws {
    #expect(try GatewayRouteElement.split("nse-1@b.example.com") == ("nse-1", "b.example.com"))
    #expect(try GatewayRouteElement.split("a@b@c.example.com") == ("a@b", "c.example.com"))
  }

  @Test(arguments: ["nse-1", "@b.example.com", "nse-1@", ""])
  func aNameWithoutBothPartsIsInvalid(_ name: String) {
    #expect {
      try GatewayRouteElement.split(name)
    } throws: { error in
      (error as? NSMError)?.code == .invalidArgument
    }
  }

  @Test func aServiceLosesOnlyItsOwnDomain() {
    #expect(GatewayRouteElement.local("simple@B.Example.com.", in: "b.example.com") == "simple")
    #expect(GatewayRouteElement.local("simple@c.example.com", in: "b.example.com") == "simple@c.example.com")
    #expect(GatewayRouteElement.local("simple", in: "b.example.com") == "simple")
  }
}
