internal import Foundation
internal import NSMCore
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

/// vWires between a client and an endpoint on this node: the two ends of one veth pair, made in
/// this process's namespace, moved into the workloads' namespaces under the names their KERNEL
/// mechanisms ask for, addressed from the connection's IP context, and brought up.
///
/// Each end carries the alias `nsm/<owner>/<connection>`, so that what a previous run of this
/// manager left behind can be found and removed.
public final class LocalVWires: Sendable {
  public let links: any LinkControl
  public let owner: String
  private let wires = Mutex<[String: VWireEnd]>([:])

  public init(links: any LinkControl, owner: String) {
    self.links = links
    self.owner = owner
  }

  public var aliasPrefix: String { "nsm/\(owner)/" }

  /// Whether connection `id` has its vWire.
  public func exists(_ id: String) -> Bool { wires.withLock { $0[id] != nil } }

  public var count: Int { wires.withLock { $0.count } }

  /// Makes the vWire of connection `id`; on failure nothing of it is left.
  public func create(_ id: String, client: VWireEnd, endpoint: VWireEnd, mtu: Int? = nil) async throws {
    let suffix = String(id.filter(\.isHexDigit).prefix(10))
    let clientTemp = "nsm\(suffix)c"
    let endpointTemp = "nsm\(suffix)e"
    let alias = aliasPrefix + id
    try await links.addVethPair(clientTemp, peer: endpointTemp, in: .current)
    do {
      try await links.move(clientTemp, from: .current, to: client.namespace, as: client.interface)
      try await links.move(endpointTemp, from: .current, to: endpoint.namespace, as: endpoint.interface)
      try await links.configure(
        client.interface,
        in: client.namespace,
        LinkSettings(alias: alias, addresses: client.addresses, routes: client.routes, mtu: mtu)
      )
      try await links.configure(
        endpoint.interface,
        in: endpoint.namespace,
        LinkSettings(alias: alias, addresses: endpoint.addresses, routes: endpoint.routes, mtu: mtu)
      )
    } catch {
      // Deleting either end of a veth pair deletes both, wherever the other end is.
      try? await links.delete(clientTemp, in: .current)
      try? await links.delete(client.interface, in: client.namespace)
      try? await links.delete(endpointTemp, in: .current)
      try? await links.delete(endpoint.interface, in: endpoint.namespace)
      throw error
    }
    wires.withLock { $0[id] = client }
  }

  /// This node's end of a vWire to another node: a VXLAN link made here (so its UDP socket
  /// lives in this namespace, on the tunnel address), moved into the workload's namespace under
  /// the name it asked for, addressed and brought up.
  public func createTunnelEnd(_ id: String, end: VWireEnd, tunnel: Tunnel) async throws {
    let temporary = "nsm\(String(id.filter(\.isHexDigit).prefix(10)))v"
    try await links.addVXLAN(
      temporary,
      vni: tunnel.vni,
      local: tunnel.local,
      remote: tunnel.remote,
      port: tunnel.port,
      in: .current
    )
    do {
      try await links.move(temporary, from: .current, to: end.namespace, as: end.interface)
      try await links.configure(
        end.interface,
        in: end.namespace,
        LinkSettings(alias: aliasPrefix + id, addresses: end.addresses, routes: end.routes, mtu: tunnel.mtu)
      )
    } catch {
      try? await links.delete(temporary, in: .current)
      try? await links.delete(end.interface, in: end.namespace)
      throw error
    }
    wires.withLock { $0[id] = end }
  }

  /// Removes the vWire of connection `id`; nothing when it has none.
  public func remove(_ id: String) async throws {
    guard let client = wires.withLock({ $0.removeValue(forKey: id) }) else { return }
    try await links.delete(client.interface, in: client.namespace)
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
