public import NSMAPI
internal import NSMCore

/// A gateway without a relay passes the managers' VXLAN parameters through, and the managers
/// tunnel to each other directly: where NAT stands between the domains, each must be told the
/// other's external address (upstream's swapip, reference §4.3). Going out of this domain, the
/// offered `src_ip` becomes its mapped address, and the answer gets the original back; coming
/// into it, the answered `dst_ip` becomes its mapped address. Each manager thus keeps its own
/// address and sees the other's external one.
///
/// Unlike upstream, an address the map does not have is told as it is (upstream blanks it), and
/// nothing is carried in extra parameters (`orig_src_ip`, `orig_dst_ip`): which way a
/// connection goes is the route element's ``DomainCrossing``.
public struct AddressSwapElement: ConnectElement {
  public let map: AddressMap

  public init(map: AddressMap) {
    self.map = map
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    if try GatewayRelayElement.crossing(context) == .inward {
      // Into this domain: the manager here answers with its own address, told outside mapped.
      var answer = try await next.request(request, context: context)
      swap(Mechanisms.Key.dstIP, in: &answer.mechanism)
      return answer
    }
    var outgoing = request
    let original =
      request.connection.mechanism.parameters[Mechanisms.Key.srcIP]
      ?? request.mechanismPreferences.first { $0.type == Mechanisms.vxlan }?.parameters[Mechanisms.Key.srcIP]
    swap(Mechanisms.Key.srcIP, in: &outgoing.connection.mechanism)
    for index in outgoing.mechanismPreferences.indices {
      swap(Mechanisms.Key.srcIP, in: &outgoing.mechanismPreferences[index])
    }
    var answer = try await next.request(outgoing, context: context)
    if answer.mechanism.type == Mechanisms.vxlan, let original {
      answer.mechanism.parameters[Mechanisms.Key.srcIP] = original
    }
    return answer
  }

  private func swap(_ key: String, in mechanism: inout Connection_Mechanism) {
    guard mechanism.type == Mechanisms.vxlan, let address = mechanism.parameters[key],
      let external = map.external(for: address)
    else { return }
    mechanism.parameters[key] = external
  }
}
