internal import Foundation
public import NSMCore
internal import Synchronization

/// One end of a vWire: the interface a workload sees in its namespace.
public struct VWireEnd: Sendable, Equatable {
  public var namespace: NetworkNamespace
  public var interface: String
  public var addresses: [String]
  public var routes: [RouteSpec]

  public init(namespace: NetworkNamespace, interface: String, addresses: [String], routes: [RouteSpec]) {
    self.namespace = namespace
    self.interface = interface
    self.addresses = addresses
    self.routes = routes
  }
}

/// vWires between a client and an endpoint on this node: the two ends of one veth pair, made
/// directly in the workloads' namespaces under the names their KERNEL mechanisms ask for,
/// addressed from the connection's IP context, and brought up; and this node's ends of vWires
/// to other nodes (VXLAN).
///
/// Each end carries the alias `nsm/<owner>/<connection>`, so that what a previous run of this
/// manager left behind can be found and removed.
public final class LocalVWires: Sendable {
  public let links: any LinkControl
  public let owner: String
  /// Admits each tunnel's packets from its peer only; nil: unguarded (tests of the control plane).
  public let tunnelGuard: (any TunnelGuard)?
  private struct Wire {
    /// The end in the workload's namespace that this manager removes on Close; its namespace
    /// as the mechanism named it (whether the workload is gone is judged by that path).
    var end: VWireEnd
    /// That namespace held open: entered to delete the end even when no process is left in
    /// it (a pod's namespace outlives a killed container; a test's outlives its process).
    var held: HeldNamespace
    /// A remote vWire's tunnel, admitted by the guard.
    var tunnel: Tunnel?
    /// What to do when that namespace disappears (its workload is gone): close the connection.
    var onGone: (@Sendable () async -> Void)?
  }

  private let wires = Mutex<[String: Wire]>([:])

  public init(links: any LinkControl, owner: String, tunnelGuard: (any TunnelGuard)? = nil) {
    self.links = links
    self.owner = owner
    self.tunnelGuard = tunnelGuard
  }

  public var aliasPrefix: String { "nsm/\(owner)/" }

  /// Whether connection `id` has its vWire.
  public func exists(_ id: String) -> Bool { wires.withLock { $0[id] != nil } }

  public var count: Int { wires.withLock { $0.count } }

  /// Makes the vWire of connection `id`; on failure nothing of it is left.
  public func create(
    _ id: String,
    client: VWireEnd,
    endpoint: VWireEnd,
    mtu: Int? = nil,
    onGone: (@Sendable () async -> Void)? = nil
  ) async throws {
    let alias = aliasPrefix + id
    // Entered through descriptors of ours from here on: the same namespaces as checked, even
    // if a PID is reused meanwhile.
    let clientHeld = try HeldNamespace(client.namespace)
    let endpointHeld = try HeldNamespace(endpoint.namespace)
    // Each end is made directly in its namespace under its final name: nothing passes through
    // this namespace, so two connections never collide here.
    try await links.addVethPair(
      client.interface,
      in: clientHeld.namespace,
      peer: endpoint.interface,
      in: endpointHeld.namespace
    )
    do {
      // The two ends at once: each is a process of its own, in a namespace of its own.
      async let clientEnd: Void = links.configure(
        client.interface,
        in: clientHeld.namespace,
        LinkSettings(alias: alias, addresses: client.addresses, routes: client.routes, mtu: mtu)
      )
      async let endpointEnd: Void = links.configure(
        endpoint.interface,
        in: endpointHeld.namespace,
        LinkSettings(alias: alias, addresses: endpoint.addresses, routes: endpoint.routes, mtu: mtu)
      )
      _ = try await (clientEnd, endpointEnd)
    } catch {
      // Deleting either end of a veth pair deletes both.
      try? await links.delete(client.interface, in: clientHeld.namespace)
      throw error
    }
    wires.withLock { $0[id] = Wire(end: client, held: clientHeld, onGone: onGone) }
  }

  /// This node's end of a vWire to another node: a VXLAN link made from here (so its UDP socket
  /// lives in this namespace, on the tunnel address) directly in the workload's namespace under
  /// the name it asked for, addressed and brought up.
  public func createTunnelEnd(
    _ id: String,
    end: VWireEnd,
    tunnel: Tunnel,
    onGone: (@Sendable () async -> Void)? = nil
  ) async throws {
    let held = try HeldNamespace(end.namespace)
    var tunnel = tunnel
    if tunnel.mtu == nil {
      // Room for the encapsulation, as upstream counts it: IP, UDP, VXLAN, Ethernet and a VLAN
      // tag (54 bytes over IPv4, 74 over IPv6); Linux would leave the VXLAN link at 1500.
      let overhead = tunnel.remote.contains(":") ? 74 : 54
      tunnel.mtu = try await links.pathMTU(toward: tunnel.remote, in: .current) - overhead
    }
    // Admitted before the link exists: from its first moment it takes packets from its peer only.
    try await tunnelGuard?.admit(tunnel)
    do {
      try await links.addVXLAN(
        end.interface,
        in: held.namespace,
        vni: tunnel.vni,
        local: tunnel.local,
        remote: tunnel.remote,
        port: tunnel.port
      )
    } catch {
      // Not ours to delete: an interface of that name may exist there already.
      try? await tunnelGuard?.revoke(tunnel)
      throw error
    }
    do {
      try await links.configure(
        end.interface,
        in: held.namespace,
        LinkSettings(alias: aliasPrefix + id, addresses: end.addresses, routes: end.routes, mtu: tunnel.mtu)
      )
    } catch {
      try? await links.delete(end.interface, in: held.namespace)
      try? await tunnelGuard?.revoke(tunnel)
      throw error
    }
    wires.withLock { $0[id] = Wire(end: end, held: held, tunnel: tunnel, onGone: onGone) }
  }

  /// Removes the vWire of connection `id`; nothing when it has none.
  public func remove(_ id: String) async throws {
    guard let wire = wires.withLock({ $0.removeValue(forKey: id) }) else { return }
    // The descriptors close when `wire` goes: a namespace only we still held goes with them.
    try await links.delete(wire.end.interface, in: wire.held.namespace)
    if let tunnel = wire.tunnel { try await tunnelGuard?.revoke(tunnel) }
  }

  /// Checks every `interval` whether the workloads' namespaces still exist, and closes the
  /// connections of those that are gone (a client killed outright never closes): upstream's
  /// forwarder polls the same way.
  public func watchNamespaces(every interval: Duration, time: any TimeSource = SystemTime()) async {
    while !Task.isCancelled {
      try? await time.sleep(for: interval)
      let gone = wires.withLock { wires in wires.filter { !$0.value.end.namespace.exists }.map(\.value.onGone) }
      for onGone in gone { await onGone?() }
    }
  }

  /// Removes what a previous run of this manager left in any namespace of this host (links
  /// whose alias is this manager's); the number removed. Namespaces are found through
  /// `/proc/*/ns/net` and `/run/netns`, each looked at once.
  public func removeLeftovers() async -> Int {
    var removed = 0
    for namespace in NetworkNamespace.all() {
      guard let found = try? await links.links(in: namespace, aliasPrefix: aliasPrefix) else { continue }
      for link in found {
        if (try? await links.delete(link.name, in: namespace)) != nil { removed += 1 }
      }
    }
    return removed
  }
}

/// A VXLAN tunnel between two nodes' tunnel addresses.
public struct Tunnel: Sendable, Equatable {
  public var vni: UInt32
  public var local: String
  public var remote: String
  public var port: Int
  public var mtu: Int?

  public init(vni: UInt32, local: String, remote: String, port: Int, mtu: Int? = nil) {
    self.vni = vni
    self.local = local
    self.remote = remote
    self.port = port
    self.mtu = mtu
  }
}
