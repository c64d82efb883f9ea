public import NSMAPI

/// One Kubernetes-style document (`apiVersion: networkservicemesh.io/v1`): a NetworkService or
/// a NetworkServiceEndpoint, as `nsm apply` reads and `nsm get` prints them.
public enum Resource: Equatable, Sendable {
  case networkService(Registry_NetworkService)
  case endpoint(Registry_NetworkServiceEndpoint)

  public static let apiVersion = "networkservicemesh.io/v1"

  public var kind: String {
    switch self {
    case .networkService: "NetworkService"
    case .endpoint: "NetworkServiceEndpoint"
    }
  }

  public var name: String {
    switch self {
    case .networkService(let ns): ns.name
    case .endpoint(let nse): nse.name
    }
  }
}

/// A document that cannot be loaded, with where it is: `FILE:LINE: PATH: what is wrong`.
public struct ResourceError: Error, CustomStringConvertible, Sendable {
  public let message: String
  public var description: String { message }

  public init(_ message: String) {
    self.message = message
  }
}
