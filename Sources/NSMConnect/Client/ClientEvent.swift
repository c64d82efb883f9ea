public import NSMAPI

/// What a client reports about one of its connections.
public struct ClientEvent: Sendable {
  public enum Kind: String, Sendable {
    /// A first Request succeeded.
    case established
    /// A refresh or heal changed what the connection is (its endpoint, path, addresses …).
    case changed
    /// The next hop reported it DOWN or was lost; healing follows.
    case down
    /// Healed onto a (possibly new) endpoint.
    case healed
    case closed
  }

  public var kind: Kind
  /// Which `--network-service` it is (its position).
  public var index: Int
  public var connection: Connection_Connection

  public init(kind: Kind, index: Int, connection: Connection_Connection) {
    self.kind = kind
    self.index = index
    self.connection = connection
  }
}
