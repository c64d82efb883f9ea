import Foundation
import NSMCore
import Testing

/// The values a connection carries: service URLs, mechanisms, address pools, metadata times.
@Suite("Connection values")
struct ConnectValuesTests {
  @Test func serviceURLsReadNameAtDomainAsANameNotUserInfo() throws {
    let url = try NetworkServiceURL(parsing: "kernel://my-vl3@finance.example.com/nsm-1?app=foo&version=v1.1")
    #expect(url.networkService == "my-vl3@finance.example.com")
    #expect(url.interfaceName == "nsm-1")
    #expect(url.labels == ["app": "foo", "version": "v1.1"])
    let bare = try NetworkServiceURL(parsing: "simple")
    #expect(bare.networkService == "simple")
    #expect(bare.interfaceName == nil)
    #expect(try NetworkServiceURL(parsing: "kernel://a%40b/x?k=v%20w").labels == ["k": "v w"])
  }

  @Test(arguments: [
    "memif://ns/x", "kernel:///x", "kernel://ns/this-name-is-too-long", "kernel://ns/a:b", "kernel://a@b@c/x",
    "kernel://ns?=v",
  ])
  func badServiceURLsAreInvalidArguments(_ text: String) throws {
    try requireInvalidArgument(Comment(rawValue: text)) { () throws(NSMError) in
      _ = try NetworkServiceURL(parsing: text)
    }
  }

  @Test func addressPoolsHandOutPairsOnceAndTakeThemBack() throws {
    var pool = AddressPool(prefix: try IPPrefix(parsing: "10.0.0.0/29"))
    let first = try pool.allocate(connection: "a")
    #expect(pool.prefix.format(first.endpoint) == "10.0.0.1")
    #expect(pool.prefix.format(first.client) == "10.0.0.2")
    #expect(try pool.allocate(connection: "a") == first)
    let second = try pool.allocate(connection: "b")
    let third = try pool.allocate(connection: "c")
    let all = [first, second, third].flatMap { [$0.endpoint, $0.client] }
    #expect(Set(all).count == 6)
    // /29: six usable addresses (network and broadcast kept back), all taken.
    let error = try #require(throws: NSMError.self) { _ = try pool.allocate(connection: "d") }
    #expect(error.code == .resourceExhausted)
    pool.release(connection: "b")
    let reused = try pool.allocate(connection: "d")
    #expect(Set([reused.endpoint, reused.client]) == Set([second.endpoint, second.client]))
  }

  @Test func aPoolGivesBackTheAddressesARefreshStillHoldsWhenFree() throws {
    let prefix = try IPPrefix(parsing: "fd00::/120")
    var pool = AddressPool(prefix: prefix)
    let wanted = AddressPool.Pair(endpoint: prefix.network + 40, client: prefix.network + 41)
    #expect(try pool.allocate(connection: "a", wanted: wanted) == wanted)
    #expect(prefix.format(wanted.endpoint) == "fd00::28")
    // Taken: another connection gets new ones.
    #expect(try pool.allocate(connection: "b", wanted: wanted) != wanted)
  }

  @Test func prefixesParseAndRefuseWhatIsNotOne() throws {
    let prefix = try IPPrefix(parsing: "192.168.7.9/24")
    #expect(prefix.description == "192.168.7.0/24")
    #expect(prefix.size == 256)
    for bad in ["10.0.0.0", "10.0.0.0/33", "nope/8", "10.0.0.0/x", "::/129"] {
      try requireInvalidArgument(Comment(rawValue: bad)) { () throws(NSMError) in _ = try IPPrefix(parsing: bad) }
    }
  }

  @Test func metadataTimesRoundTripAsGoWritesThem() throws {
    let date = Date(timeIntervalSince1970: 1_796_212_800.25)
    #expect(RFC3339.format(date) == "2026-12-02T12:00:00.25Z")
    #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00Z")
    let parsed = try #require(RFC3339.parse("2026-12-02T12:00:00.25Z"))
    #expect(abs(parsed.timeIntervalSince(date)) < 1e-6)
    let offset = try #require(RFC3339.parse("2026-12-02T13:30:00.123456789+01:30"))
    #expect(abs(offset.timeIntervalSince1970 - 1_796_212_800.123456789) < 1e-6)
    for bad in ["", "2026-12-02", "2026-13-02T00:00:00Z", "2026-12-02T00:00:00", "2026-12-02T00:00:00.Z"] {
      #expect(RFC3339.parse(bad) == nil, "\(bad)")
    }
  }
}
