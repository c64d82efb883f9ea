internal import CLDNS
internal import Foundation
internal import NSMCore

/// What one DNS query returned, as plain values (nothing of ldns escapes this file).
struct DNSAnswer: Sendable {
  /// 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ...
  var rcode: UInt8
  var srv: [SRVRecord] = []
  /// Addresses by absolute owner name, from the answer and additional sections, with TTLs.
  var addresses: [String: [(address: String, ttl: UInt32)]] = [:]
  /// The negative-caching time of an NXDOMAIN/NODATA answer (RFC 2308: the SOA's minimum,
  /// bounded by the SOA's own TTL).
  var negativeTTL: UInt32?
  /// Whether anything of the asked type was in the answer section.
  var hasAnswer = false
}

enum QueryType: Sendable {
  case srv, a, aaaa

  var ldns: ldns_rr_type {
    switch self {
    case .srv: LDNS_RR_TYPE_SRV
    case .a: LDNS_RR_TYPE_A
    case .aaaa: LDNS_RR_TYPE_AAAA
    }
  }
}

enum QueryFailure: Error, Sendable {
  /// No answer within the deadline (or the server could not be reached).
  case noAnswer
  /// An answer that could not be read.
  case malformed(String)
}

/// One blocking query to one server. ldns blocks and its resolver is not thread-safe, so a
/// resolver is made and freed inside this call, which callers run on a thread of their own.
func ldnsQuery(name: String, type: QueryType, server: NameServer, timeout: Duration) -> Result<DNSAnswer, QueryFailure>
{
  guard let resolver = ldns_resolver_new() else { return .failure(.malformed("ldns_resolver_new failed")) }
  defer { ldns_resolver_deep_free(resolver) }
  let addressType = server.host.contains(":") ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A
  guard let address = ldns_rdf_new_frm_str(addressType, server.host) else {
    return .failure(.malformed("name server \(server.host) is not an IP address"))
  }
  defer { ldns_rdf_deep_free(address) }
  guard ldns_resolver_push_nameserver(resolver, address) == LDNS_STATUS_OK else {
    return .failure(.malformed("cannot use name server \(server)"))
  }
  ldns_resolver_set_port(resolver, server.port)
  ldns_resolver_set_recursive(resolver, true)
  ldns_resolver_set_retry(resolver, 1)
  ldns_resolver_set_defnames(resolver, false)
  ldns_resolver_set_dnsrch(resolver, false)
  ldns_resolver_set_dnssec(resolver, false)
  ldns_resolver_set_fallback(resolver, true)
  let (seconds, attoseconds) = timeout.components
  ldns_resolver_set_timeout(resolver, timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000)))

  guard let owner = ldns_dname_new_frm_str(name) else { return .failure(.malformed("'\(name)' is not a DNS name")) }
  defer { ldns_rdf_deep_free(owner) }
  var packet: UnsafeMutablePointer<ldns_pkt>?
  let status = ldns_resolver_query_status(&packet, resolver, owner, type.ldns, LDNS_RR_CLASS_IN, UInt16(LDNS_RD))
  guard status == LDNS_STATUS_OK, let packet else { return .failure(.noAnswer) }
  defer { ldns_pkt_free(packet) }

  var answer = DNSAnswer(rcode: UInt8(ldns_pkt_get_rcode(packet).rawValue))
  for rr in records(ldns_pkt_answer(packet)) {
    switch ldns_rr_get_type(rr) {
    case LDNS_RR_TYPE_SRV:
      guard ldns_rr_rd_count(rr) == 4, let target = string(ldns_rr_rdf(rr, 3)) else {
        return .failure(.malformed("an SRV record of \(name) is malformed"))
      }
      answer.srv.append(
        SRVRecord(
          priority: ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)),
          weight: ldns_rdf2native_int16(ldns_rr_rdf(rr, 1)),
          port: ldns_rdf2native_int16(ldns_rr_rdf(rr, 2)),
          target: target.lowercased(),
          ttl: ldns_rr_ttl(rr)
        )
      )
      if type == .srv { answer.hasAnswer = true }
    case LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA:
      addAddress(rr, to: &answer)
      if type != .srv { answer.hasAnswer = true }
    default:
      continue  // CNAME and others: the resolver already followed them
    }
  }
  for rr in records(ldns_pkt_additional(packet)) {
    let rrType = ldns_rr_get_type(rr)
    if rrType == LDNS_RR_TYPE_A || rrType == LDNS_RR_TYPE_AAAA { addAddress(rr, to: &answer) }
  }
  for rr in records(ldns_pkt_authority(packet)) where ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA {
    if ldns_rr_rd_count(rr) >= 7 {
      answer.negativeTTL = min(ldns_rr_ttl(rr), ldns_rdf2native_int32(ldns_rr_rdf(rr, 6)))
    }
  }
  return .success(answer)
}

private func records(_ list: UnsafeMutablePointer<ldns_rr_list>?) -> [UnsafeMutablePointer<ldns_rr>] {
  guard let list else { return [] }
  return (0..<ldns_rr_list_rr_count(list)).compactMap { ldns_rr_list_rr(list, $0) }
}

private func addAddress(_ rr: UnsafeMutablePointer<ldns_rr>, to answer: inout DNSAnswer) {
  guard let owner = string(ldns_rr_owner(rr)), let address = string(ldns_rr_rdf(rr, 0)) else { return }
  answer.addresses[owner.lowercased(), default: []].append((address, ldns_rr_ttl(rr)))
}

/// ldns's text form of an rdf; ldns allocates it and we free it.
private func string(_ rdf: UnsafeMutablePointer<ldns_rdf>?) -> String? {
  guard let rdf, let text = ldns_rdf2str(rdf) else { return nil }
  defer { free(text) }
  return String(cString: text)
}
