import NSMCore
import Testing

@Suite("ServiceAddress")
struct ServiceAddressTests {
  @Test(
    "parses NSM address forms",
    arguments: [
      ("tcp://127.0.0.1:5002", ServiceAddress.tcp(host: "127.0.0.1", port: 5002)),
      ("tcp://:5002", .tcp(host: "", port: 5002)),
      ("tcp://[::1]:5002", .tcp(host: "::1", port: 5002)),
      ("tcp://[fe80::1]:1", .tcp(host: "fe80::1", port: 1)),
      ("tcp://registry.nsm-system.svc:5002", .tcp(host: "registry.nsm-system.svc", port: 5002)),
      ("tcp://localhost:5002/", .tcp(host: "localhost", port: 5002)),
      ("tcp://localhost:65535", .tcp(host: "localhost", port: 65535)),
      // Port 0 asks the system for a free port when listening.
      ("tcp://127.0.0.1:0", .tcp(host: "127.0.0.1", port: 0)),
      ("unix:///tmp/x.sock", .unix(path: "/tmp/x.sock")),
      (
        "unix:///var/lib/networkservicemesh/nsm.io.sock",
        .unix(path: "/var/lib/networkservicemesh/nsm.io.sock")
      ),
      ("unix:///a", .unix(path: "/a")),
      ("registry:5002", .tcp(host: "registry", port: 5002)),
      ("10.0.0.1:5002", .tcp(host: "10.0.0.1", port: 5002)),
      ("[::1]:5002", .tcp(host: "::1", port: 5002)),
      (":5002", .tcp(host: "", port: 5002)),
    ]
  )
  func parses(text: String, expected: ServiceAddress) throws {
    #expect(try ServiceAddress(parsing: text) == expected)
  }

  @Test(
    "rejects malformed addresses with INVALID_ARGUMENT quoting the input",
    arguments: [
      ("tcp://host", "has no port"),
      ("registry", "has no port"),
      ("", "has no port"),
      ("tcp://", "has no port"),
      ("tcp://[::1]", "has no port"),
      ("tcp://::1:5002", "has no port"),
      ("unix://relative", "absolute path"),
      ("unix://relative/x.sock", "absolute path"),
      ("unix://", "absolute path"),
      ("unix:///", "absolute path"),
      ("http://x:1", ""),
      ("grpc://x:1", ""),
      ("tcp://host:5002/path", "has a path"),
      ("tcp://host:70000", "invalid port '70000'"),
      ("tcp://host:65536", "invalid port '65536'"),
      ("tcp://host:-1", "invalid port '-1'"),
      ("tcp://host:http", "invalid port 'http'"),
      ("tcp://host:", "invalid port ''"),
    ]
  )
  func rejects(text: String, mentions: String) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in _ = try ServiceAddress(parsing: text) }
    expectMessage(error, contains: "address '\(text)'")
    if !mentions.isEmpty {
      expectMessage(error, contains: mentions)
    }
  }

  @Test(
    "description round-trips",
    arguments: [
      "tcp://127.0.0.1:5002",
      "tcp://:5002",
      "tcp://[::1]:5002",
      "tcp://registry:5002",
      "tcp://127.0.0.1:0",
      "unix:///tmp/x.sock",
    ]
  )
  func descriptionRoundTrips(_ text: String) throws {
    let address = try ServiceAddress(parsing: text)
    #expect(address.description == text)
    #expect(try ServiceAddress(parsing: address.description) == address)
  }

  @Test(
    "description is the canonical form",
    arguments: [
      ("registry:5002", "tcp://registry:5002"),
      (":5002", "tcp://:5002"),
      ("[::1]:5002", "tcp://[::1]:5002"),
      ("tcp://localhost:5002/", "tcp://localhost:5002"),
    ]
  )
  func canonicalDescription(text: String, expected: String) throws {
    #expect(try ServiceAddress(parsing: text).description == expected)
  }

  @Test(
    "parsing a value's description gives the value back",
    arguments: [
      ServiceAddress.tcp(host: "10.0.0.1", port: 5002),
      .tcp(host: "", port: 1),
      .tcp(host: "2001:db8::1", port: 443),
      .unix(path: "/run/nsm/registry.sock"),
    ]
  )
  func valueRoundTrips(_ address: ServiceAddress) throws {
    #expect(try ServiceAddress(parsing: address.description) == address)
  }
}
