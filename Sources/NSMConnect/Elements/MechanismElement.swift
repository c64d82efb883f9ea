public import NSMAPI
public import NSMCore
internal import Synchronization

/// Chooses the mechanism of the incoming side of this hop from the caller's preferences, as
/// upstream's `mechanisms` server does: KERNEL for a workload on this node, VXLAN from another
/// node's manager (this side picks `dst_ip`, `dst_port` and the VNI). A refresh keeps what was
/// chosen. The data plane issue makes these carry packets; here they are negotiated and kept.
public struct MechanismElement: ConnectElement {
  public enum Role: Sendable {
    /// A manager: the workload's KERNEL parameters (its namespace, its interface) pass as given.
    case manager
    /// An endpoint: KERNEL names this endpoint's own namespace, and an interface name when the
    /// caller gave none.
    case endpoint(inodeURL: String)
  }

  public let role: Role
  /// This node's tunnel address; nil: VXLAN is not offered.
  public let tunnelIP: String?
  public let vxlanPort: Int
  public let vnis: VNIAllocator

  public init(role: Role, tunnelIP: String?, vxlanPort: Int = 4789, vnis: VNIAllocator = VNIAllocator()) {
    self.role = role
    self.tunnelIP = tunnelIP
    self.vxlanPort = vxlanPort
    self.vnis = vnis
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    var request = request
    let id = request.connection.id
    let chosen = try choose(request)
    let allocated = chosen.type == Mechanisms.vxlan && vnis.vni(of: id) == nil
    var mechanism = chosen
    if chosen.type == Mechanisms.vxlan {
      let vni = try vnis.allocate(
        source: chosen.parameters[Mechanisms.Key.srcIP] ?? "",
        connection: id,
        wanted: chosen.parameters[Mechanisms.Key.vni].flatMap(UInt32.init)
      )
      mechanism.parameters[Mechanisms.Key.vni] = String(vni)
    }
    request.connection.mechanism = mechanism
    do {
      var answer = try await next.request(request, context: context)
      answer.mechanism = mechanism
      return answer
    } catch {
      if allocated { vnis.release(connection: id) }
      throw error
    }
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    defer { vnis.release(connection: connection.id) }
    try await next.close(connection, context: context)
  }

  func choose(_ request: Networkservice_NetworkServiceRequest) throws(NSMError) -> Connection_Mechanism {
    if request.connection.hasMechanism, !request.connection.mechanism.type.isEmpty {
      let kept = request.connection.mechanism
      try Mechanisms.validate(kept)
      if supports(kept.type) { return kept }
    }
    guard !request.mechanismPreferences.isEmpty else {
      throw .invalidArgument("the request offers no mechanism (mechanism_preferences is empty; KERNEL or VXLAN)")
    }
    var offered: [String] = []
    for preference in request.mechanismPreferences {
      offered.append("\(preference.cls)/\(preference.type)")
      guard supports(preference.type) else { continue }
      try Mechanisms.validate(preference)
      var mechanism = preference
      switch preference.type {
      case Mechanisms.kernel:
        if mechanism.cls.isEmpty { mechanism.cls = Mechanisms.local }
        if case .endpoint(let inodeURL) = role {
          mechanism.parameters[Mechanisms.Key.inodeURL] = inodeURL
          if (mechanism.parameters[Mechanisms.Key.interfaceName] ?? "").isEmpty {
            mechanism.parameters[Mechanisms.Key.interfaceName] = Self.interfaceName(for: request.connection)
          }
        }
      default:
        guard let tunnelIP else { continue }
        if mechanism.cls.isEmpty { mechanism.cls = Mechanisms.remote }
        guard !(mechanism.parameters[Mechanisms.Key.srcIP] ?? "").isEmpty else {
          throw .invalidArgument("VXLAN mechanism: src_ip is missing")
        }
        mechanism.parameters[Mechanisms.Key.dstIP] = tunnelIP
        mechanism.parameters[Mechanisms.Key.dstPort] = String(vxlanPort)
        if mechanism.parameters[Mechanisms.Key.srcPort] == nil {
          mechanism.parameters[Mechanisms.Key.srcPort] = String(vxlanPort)
        }
      }
      return mechanism
    }
    throw .invalidArgument(
      "none of the offered mechanisms (\(offered.joined(separator: ", "))) is supported here (\(supported.joined(separator: ", ")))"
    )
  }

  private var supported: [String] {
    tunnelIP == nil ? [Mechanisms.kernel] : [Mechanisms.kernel, Mechanisms.vxlan]
  }

  private func supports(_ type: String) -> Bool {
    supported.contains(type)
  }

  /// An endpoint-side interface name: short, and distinct per connection.
  static func interfaceName(for connection: Connection_Connection) -> String {
    "nsm-" + String(connection.id.filter(\.isHexDigit).prefix(Mechanisms.maxInterfaceName - 4))
  }
}

/// The VXLAN network identifiers in use on this node, for the connections it terminates and the
/// ones it starts: unique per node, since Linux allows one VXLAN link per VNI and UDP port in a
/// namespace. Kept across refreshes, free again after Close.
///
/// A manager that starts a remote connection offers a VNI free here (``reserve(connection:)``);
/// the other node takes it when it is free there too, so both ends can make their links.
public final class VNIAllocator: Sendable {
  private struct State {
    var used: Set<UInt32> = []
    var byConnection: [String: (source: String, vni: UInt32)] = [:]
    var cursor: UInt32 = 0
  }

  private let state = Mutex(State())

  public init() {}

  public func vni(of connection: String) -> UInt32? {
    state.withLock { $0.byConnection[connection]?.vni }
  }

  /// The VNI of `connection` from `source`: the one it holds, else `wanted` (the other node's
  /// offer) when free here, else a free one.
  public func allocate(source: String, connection: String, wanted: UInt32? = nil) throws(NSMError) -> UInt32 {
    let result: UInt32? = state.withLock { state in
      if let held = state.byConnection[connection] {
        if held.source == source { return held.vni }
        state.used.remove(held.vni)
      }
      guard state.used.count < (1 << 24) - 2 else { return nil }
      var vni: UInt32
      if let wanted, wanted > 0, wanted < 1 << 24, !state.used.contains(wanted) {
        vni = wanted
      } else {
        repeat {
          state.cursor = state.cursor % ((1 << 24) - 1) + 1
          vni = state.cursor
        } while state.used.contains(vni)
      }
      state.used.insert(vni)
      state.byConnection[connection] = (source, vni)
      return vni
    }
    guard let result else { throw NSMError(.resourceExhausted, "no VXLAN network identifier is free on this node") }
    return result
  }

  /// A VNI free on this node for a connection this node starts, to offer the other node.
  public func reserve(connection: String) throws(NSMError) -> UInt32 {
    try allocate(source: "", connection: connection)
  }

  /// Records the VNI the other node chose for a connection this node started: it replaces the
  /// offer. False when it is in use here by another connection (the vWire would collide).
  public func adopt(_ vni: UInt32, connection: String) -> Bool {
    state.withLock { state in
      if let held = state.byConnection[connection] {
        if held.vni == vni { return true }
        state.used.remove(held.vni)
        state.byConnection[connection] = nil
      }
      guard !state.used.contains(vni) else { return false }
      state.used.insert(vni)
      state.byConnection[connection] = ("", vni)
      return true
    }
  }

  public func release(connection: String) {
    state.withLock { state in
      guard let (_, vni) = state.byConnection.removeValue(forKey: connection) else { return }
      state.used.remove(vni)
    }
  }

  public var count: Int { state.withLock { $0.byConnection.count } }
}
