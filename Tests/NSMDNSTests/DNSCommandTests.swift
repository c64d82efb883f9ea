import Foundation
import NSMCore
import NSMTesting
import Testing

@Suite("nsm dns lookup / records, and zones/", .timeLimit(.minutes(1)))
struct DNSCommandTests {
  @Test func lookupPrintsWhatARegistryWouldDial() async throws {
    let nsd = try await TestNSD.start()
    defer { nsd.stop() }
    let server = nsd.server.description
    let table = try await NSMProcess.run(["dns", "lookup", "a.nsm.test", "--dns-server", server])
    #expect(table.status == 0, "\(table.stderr)")
    #expect(table.stdout.contains("registry   1       127.0.0.1:5002"))
    #expect(table.stdout.contains("proxy      1       127.0.0.1:5004"))
    #expect(table.stdout.contains("rfc2782"))

    let json = try await NSMProcess.run(
      ["dns", "lookup", "floating.nsm.test", "-o", "json"],
      environment: ["NSM_DNS_SERVERS": server]
    )
    #expect(json.status == 0, "a floating domain has a registry and no gateway")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let registry = try #require(object["registry"] as? [String: Any])
    let endpoints = try #require(registry["endpoints"] as? [[String: Any]])
    #expect(endpoints.first?["port"] as? Int == 5022)
    #expect((object["proxy"] as? [String: Any])?["kind"] as? String == "nxdomain")

    let missing = try await NSMProcess.run(["dns", "lookup", "nothing.a.nsm.test", "--dns-server", server])
    #expect(missing.status != 0, "nothing resolves")
    #expect(missing.stderr.contains("_nsm-registry._tcp.nothing.a.nsm.test."))
    #expect(missing.stderr.contains("NXDOMAIN"))
  }

  @Test func projectZonesAreValid() async throws {
    #expect(TestNSD.projectZones.keys.sorted() == ["a.nsm.test", "b.nsm.test", "floating.nsm.test"])
    for (name, text) in TestNSD.projectZones {
      let (status, output) = try await Self.checkZone(name, text)
      #expect(status == 0, "\(name): \(output)")
    }
  }

  @Test func printedRecordsMakeAValidZoneThatResolves() async throws {
    let printed = try await NSMProcess.run(
      [
        "dns", "records", "--domain", "c.nsm.test", "--registry", "127.0.0.1:5032", "--proxy", "127.0.0.1:5034",
        "--ttl", "30",
      ]
    )
    #expect(printed.status == 0, "\(printed.stderr)")
    let zone = """
      $ORIGIN c.nsm.test.
      @ 30 IN SOA ns.c.nsm.test. hostmaster.c.nsm.test. ( 1 3600 600 86400 5 )
      @ 30 IN NS ns.c.nsm.test.
      ns 30 IN A 127.0.0.1
      \(printed.stdout)
      """
    let (status, output) = try await Self.checkZone("c.nsm.test", zone)
    #expect(status == 0, "\(output)")

    let nsd = try await TestNSD.start(zones: ["c.nsm.test": zone])
    defer { nsd.stop() }
    let lookup = try await NSMProcess.run(["dns", "lookup", "c.nsm.test", "--dns-server", nsd.server.description])
    #expect(lookup.stdout.contains("127.0.0.1:5032"))
    #expect(lookup.stdout.contains("127.0.0.1:5034"))

    let bad = try await NSMProcess.run(["dns", "records", "--domain", "c.nsm.test", "--registry", "nope"])
    #expect(bad.status != 0)
  }

  static func checkZone(_ name: String, _ text: String) async throws -> (Int32, String) {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).zone").path
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: file) }
    return try await runProgram("/usr/sbin/nsd-checkzone", [name, file])
  }
}
