import NSMCore
import Testing

@Suite("NameRules and DomainName")
struct NameRulesTests {
  static let field = "network_service.name"

  // MARK: - Valid names

  @Test(
    "accepts valid names",
    arguments: [
      "ns",
      "a",
      "nse-1",
      "icmp-responder",
      "my_service.v2",
      "ns:v1",
      "ns@example.com",
      "ns@example.com.",
      "ns@my-cluster.local",
      "ns@_srv.example.com",
      "ns@a",
      "ns@host:5002",
      "ns@host:1",
      "ns@host:65535",
      "ns@10.0.0.1:5002",
      "ns@[::1]:5002",
      "ns@[fe80::1]:5002",
      "ns@[::ffff:10.0.0.1]:5002",
      "dienst-ü",
      "サービス",
      "Ωμέγα-1",
      "a'b;--",
      "';DROP-TABLE-nse;--",
      "50%-off",
      "x=y&z",
      "ns@" + String(repeating: "a", count: 63),
    ]
  )
  func acceptsValidName(_ name: String) throws {
    try NameRules.validate(name, field: Self.field)
  }

  @Test("accepts a name of exactly maxNameBytes bytes")
  func acceptsMaximumLength() throws {
    try NameRules.validate(string(ofBytes: Limits.maxNameBytes), field: Self.field)
    // 126 two-byte characters: 252 bytes.
    try NameRules.validate(string(ofBytes: 252, repeating: "ü"), field: Self.field)
  }

  // MARK: - Invalid names

  struct InvalidCase: Sendable, CustomTestStringConvertible {
    var name: String
    /// A fragment the error message must contain besides the field name.
    var mentions: String
    var label: String

    init(_ label: String, _ name: String, mentions: String) {
      self.label = label
      self.name = name
      self.mentions = mentions
    }

    var testDescription: String { label }
  }

  static let invalidCases: [InvalidCase] = [
    .init("empty", "", mentions: "is empty"),
    .init("254 ASCII bytes", string(ofBytes: 254), mentions: "254 bytes"),
    .init("254 bytes in 127 characters", string(ofBytes: 254, repeating: "ü"), mentions: "254 bytes"),
    .init("space", "a b", mentions: "U+0020"),
    .init("leading space", " ns", mentions: "U+0020"),
    .init("trailing space", "ns ", mentions: "U+0020"),
    .init("tab", "a\tb", mentions: "U+0009"),
    .init("newline", "a\nb", mentions: "U+000A"),
    .init("carriage return", "a\rb", mentions: "U+000D"),
    .init("NUL", "a\u{0}b", mentions: "U+0000"),
    .init("bell control char", "a\u{7}b", mentions: "U+0007"),
    .init("DEL control char", "a\u{7F}b", mentions: "U+007F"),
    .init("no-break space", "a\u{A0}b", mentions: "U+00A0"),
    .init("zero-width space (format)", "a\u{200B}b", mentions: "U+200B"),
    .init("right-to-left override (format)", "a\u{202E}b", mentions: "U+202E"),
    .init("line separator", "a\u{2028}b", mentions: "U+2028"),
    .init("private use", "a\u{E000}b", mentions: "U+E000"),
    .init("slash", "a/b", mentions: "'/'"),
    .init("backslash", "a\\b", mentions: "'\\'"),
    .init("double quote", "a\"b", mentions: "'\"'"),
    .init("question mark", "a?b", mentions: "'?'"),
    .init("hash", "a#b", mentions: "'#'"),
    .init("asterisk", "a*b", mentions: "'*'"),
    .init("comma", "a,b", mentions: "','"),
    .init("two '@'", "a@b@c", mentions: "more than one '@'"),
    .init("only '@'s", "@@", mentions: "more than one '@'"),
    .init("nothing before '@'", "@example.com", mentions: "nothing before '@'"),
    .init("empty domain", "ns@", mentions: "empty"),
    .init("domain label starts with '-'", "ns@-bad.com", mentions: "not a valid DNS name"),
    .init("domain label ends with '-'", "ns@bad-.com", mentions: "not a valid DNS name"),
    .init("empty domain label", "ns@bad..com", mentions: "not a valid DNS name"),
    .init("leading dot in domain", "ns@.com", mentions: "not a valid DNS name"),
    .init("lone dot domain", "ns@.", mentions: "not a valid DNS name"),
    .init("punctuation in domain", "ns@bad!.com", mentions: "not a valid DNS name"),
    .init("non-ASCII domain", "ns@dömain.de", mentions: "not a valid DNS name"),
    .init("64-byte domain label", "ns@" + string(ofBytes: 64) + ".com", mentions: "1 to 63 bytes"),
    .init("port 0", "ns@host:0", mentions: "invalid port '0'"),
    .init("port 70000", "ns@host:70000", mentions: "invalid port '70000'"),
    .init("port 65536", "ns@host:65536", mentions: "invalid port '65536'"),
    .init("negative port", "ns@host:-1", mentions: "invalid port '-1'"),
    .init("non-numeric port", "ns@host:http", mentions: "invalid port 'http'"),
    .init("empty port", "ns@host:", mentions: "invalid port ''"),
    .init("v6 literal without port", "ns@[::1]", mentions: "not a valid DNS name"),
    .init("bare v6 address", "ns@::1", mentions: "not a valid DNS name"),
    .init("empty v6 literal", "ns@[]:5002", mentions: "invalid IPv6 literal"),
    .init("non-hex v6 literal", "ns@[zz::1]:5002", mentions: "invalid IPv6 literal"),
    .init("v6 literal with bad port", "ns@[::1]:0", mentions: "invalid port '0'"),
    .init("port without host", "ns@:5002", mentions: "not a valid DNS name"),
    .init("bad host before port", "ns@-host:5002", mentions: "not a valid DNS name"),
  ]

  @Test("rejects invalid names with INVALID_ARGUMENT naming the field", arguments: invalidCases)
  func rejectsInvalidName(_ testCase: InvalidCase) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in
      try NameRules.validate(testCase.name, field: Self.field)
    }
    expectMessage(error, contains: Self.field, testCase.mentions)
  }

  @Test(
    "the message names whichever field was passed in",
    arguments: [
      "network_service.name",
      "network_service_endpoint.network_service_names[3]",
      "unregister.name",
    ],
    ["", "a b", "a/b", "a@b@c", "ns@host:70000", string(ofBytes: 254)]
  )
  func messageNamesField(field: String, name: String) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in
      try NameRules.validate(name, field: field)
    }
    #expect(error.message.hasPrefix(field))
  }

  @Test("a domain error keeps the domain's reason and quotes the whole name")
  func domainErrorIsWrapped() throws {
    let error = try requireInvalidArgument { () throws(NSMError) in
      try NameRules.validate("ns@host:70000", field: "f")
    }
    expectMessage(error, contains: "f 'ns@host:70000'", "domain 'host:70000' has an invalid port '70000'")
  }

  @Test("a very long rejected name is shortened in the message")
  func longNameIsTruncatedInMessage() throws {
    let name = string(ofBytes: 200) + "/"
    let error = try requireInvalidArgument { () throws(NSMError) in
      try NameRules.validate(name, field: "f")
    }
    #expect(!error.message.contains(name))
    expectMessage(error, contains: "...", "'/'")
  }

  @Test("forbidden characters are exactly the documented set")
  func forbiddenCharacterSet() {
    #expect(NameRules.forbiddenCharacters == ["/", "\\", "\"", "?", "#", "*", ","])
  }

  // MARK: - DomainName

  @Test(
    "DomainName.validate accepts DNS names and host:port literals",
    arguments: [
      "example.com",
      "example.com.",
      "a",
      "k8s_cluster-1.local",
      "host:5002",
      "10.0.0.1:5002",
      "[::1]:5002",
      "[2001:db8::1]:65535",
      [String](repeating: string(ofBytes: 63), count: 3).joined(separator: ".") + "." + string(ofBytes: 61),
    ]
  )
  func domainAccepts(_ domain: String) throws {
    try DomainName.validate(domain)
  }

  @Test(
    "DomainName.validate rejects invalid domains",
    arguments: [
      ("", "empty"),
      (".", "1 to 253 bytes"),
      ([String](repeating: string(ofBytes: 63), count: 4).joined(separator: "."), "1 to 253 bytes"),
      (string(ofBytes: 64), "1 to 63 bytes"),
      ("a..b", "1 to 63 bytes"),
      ("-a", "label '-a'"),
      ("a-", "label 'a-'"),
      ("a b", "label 'a b'"),
      ("host:0", "invalid port '0'"),
      ("host:70000", "invalid port '70000'"),
      ("host:x", "invalid port 'x'"),
      ("[::1]:x", "invalid port 'x'"),
      ("[g::1]:1", "invalid IPv6 literal"),
      ("[]:1", "invalid IPv6 literal"),
    ]
  )
  func domainRejects(domain: String, mentions: String) throws {
    let error = try requireInvalidArgument { () throws(NSMError) in try DomainName.validate(domain) }
    expectMessage(error, contains: mentions)
  }

  @Test(
    "DomainName.splitHostPort",
    arguments: [
      ("host:80", "host", "80"),
      ("10.0.0.1:5002", "10.0.0.1", "5002"),
      ("[::1]:5002", "[::1]", "5002"),
      (":80", "", "80"),
      ("host:", "host", ""),
      ("[::1]:", "[::1]", ""),
    ]
  )
  func splitHostPort(value: String, host: String, port: String) throws {
    let split = try #require(DomainName.splitHostPort(value))
    #expect(split.host == host)
    #expect(split.port == port)
  }

  @Test(
    "DomainName.splitHostPort finds no port",
    arguments: ["host", "::1", "a:b:c", "[::1]", "[::1]x:1", "[::1"]
  )
  func splitHostPortWithoutPort(_ value: String) {
    #expect(DomainName.splitHostPort(value) == nil)
  }
}
