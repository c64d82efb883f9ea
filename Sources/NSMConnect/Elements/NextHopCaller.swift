internal import Foundation
public import GRPCCore
public import NSMAPI
internal import NSMAPIGRPC
public import NSMCore
public import NSMTransport

/// How a hop calls the next one (an endpoint, a manager): over the shared peer pool, with its
/// path token for that peer in `nsm-client-token`, failing at once when the peer is gone so
/// that selection can try another.
public struct NextHopCaller: Sendable {
  public let pool: PeerPool
  public let identity: WorkloadIdentity?
  public let maxTokenLifetime: Duration
  public let time: any TimeSource
  /// How long a call may take when the caller set no deadline.
  public var defaultTimeout: Duration = .seconds(15)

  public init(pool: PeerPool, identity: WorkloadIdentity?, maxTokenLifetime: Duration, time: any TimeSource) {
    self.pool = pool
    self.identity = identity
    self.maxTokenLifetime = maxTokenLifetime
    self.time = time
  }

  public func request(
    _ request: Networkservice_NetworkServiceRequest,
    at address: ServiceAddress,
    deadline: ContinuousClock.Instant?
  ) async throws -> Connection_Connection {
    try await call(address, deadline: deadline) { client, metadata, options in
      try await client.request(request, metadata: metadata, options: options) { try $0.message }
    }
  }

  public func close(_ connection: Connection_Connection, at address: ServiceAddress, deadline: ContinuousClock.Instant?)
    async throws
  {
    _ = try await call(address, deadline: deadline) { client, metadata, options in
      try await client.close(connection, metadata: metadata, options: options) { _ in true }
    }
  }

  /// The metadata of a call to `peer`: this hop's token for it and the token's expiry.
  public func metadata(for peer: WorkloadIdentity.Peer?) async throws -> Metadata {
    try await ClientToken.metadata(identity: identity, peer: peer, maxTokenLifetime: maxTokenLifetime, now: time.date)
  }

  private func call<Result: Sendable>(
    _ address: ServiceAddress,
    deadline: ContinuousClock.Instant?,
    _ body: (Networkservice_NetworkService.Client<PeerTransport>, Metadata, CallOptions) async throws -> Result
  ) async throws -> Result {
    var options = CallOptions.defaults
    // A dead peer must fail at once, so selection tries the next candidate.
    options.waitForReady = false
    options.timeout = deadline.map { $0 - .now } ?? defaultTimeout
    if let timeout = options.timeout, timeout <= .zero {
      throw NSMError(.deadlineExceeded, "the caller's deadline passed before \(address) could be called")
    }
    do {
      return try await pool.withConnection(to: address, caller: address.description) { connection in
        try await body(
          Networkservice_NetworkService.Client(wrapping: connection.grpc),
          try await metadata(for: connection.peer),
          options
        )
      }
    } catch let error as RPCError where !error.metadata.isEmpty {
      // The next hop's status without its trailers: a hop that passes the error on would
      // otherwise send them as its own trailers, reserved names and all, and its caller would
      // see the stream reset ("Stream unexpectedly closed") instead of the status.
      throw RPCError(code: error.code, message: error.message, cause: error.cause)
    }
  }
}
