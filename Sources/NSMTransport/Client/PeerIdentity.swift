public import GRPCCore
public import GRPCNIOTransportHTTP2
internal import GRPCProtobuf
internal import NSMCore
internal import SwiftProtobuf
internal import Synchronization

/// The identity a server proved in the TLS handshake of one client connection; empty until a
/// handshake completed. The verification callback fills it.
public final class PeerIdentityBox: Sendable {
  private let peer = Mutex<WorkloadIdentity.Peer?>(nil)

  public init() {}

  public var value: WorkloadIdentity.Peer? { peer.withLock { $0 } }
  public func set(_ value: WorkloadIdentity.Peer) { peer.withLock { $0 = value } }
}

/// Opening a connection on purpose. gRPC connects lazily, with the first call, yet a client
/// must know the server's SPIFFE ID before that call (its path token names the server as
/// audience), and a pool must know whether an address answers at all before it counts it as a
/// peer. So the first use of a connection sends one call to a method no server has: the
/// handshake completes (or fails, with a reason), and the answer, UNIMPLEMENTED, is ignored.
public enum ConnectionProbe {
  static let descriptor = MethodDescriptor(fullyQualifiedService: "nsm.swift.Probe", method: "Connect")

  /// Returns once `grpc`'s connection answered; throws UNAVAILABLE naming why not within
  /// `timeout`. With mTLS, also the server's verified identity (nil on plaintext).
  @discardableResult
  public static func connect(
    _ grpc: GRPCClient<HTTP2ClientTransport.Posix>,
    identity box: PeerIdentityBox?,
    timeout: Duration
  ) async throws -> WorkloadIdentity.Peer? {
    if let box, let peer = box.value { return peer }
    var callOptions = CallOptions.defaults
    callOptions.timeout = timeout
    let options = callOptions
    var failure: (any Error)?
    do {
      // Bounded here too: grpc-swift does not end a call whose connection never finishes its
      // HTTP/2 handshake (a server that accepts TCP and stays mute).
      try await Deadline.run(within: timeout) {
        try await grpc.unary(
          request: ClientRequest(message: Google_Protobuf_Empty()),
          descriptor: descriptor,
          serializer: ProtobufSerializer<Google_Protobuf_Empty>(),
          deserializer: ProtobufDeserializer<Google_Protobuf_Empty>(),
          options: options
        ) { _ in }
      }
    } catch let error as RPCError where error.code != .unavailable && error.code != .deadlineExceeded {
      // The server answered (UNIMPLEMENTED, normally): the connection is up.
    } catch {
      failure = error
    }
    if let box {
      if let peer = box.value { return peer }
      throw RPCError(
        code: .unavailable,
        message:
          "the TLS handshake did not complete: \(failure.map(Self.reason) ?? "the server's certificate was refused")"
      )
    }
    if let failure { throw RPCError(code: .unavailable, message: "cannot connect: \(reason(failure))") }
    return nil
  }

  static func reason(_ error: any Error) -> String {
    if let error = error as? RPCError { return error.message }
    if let error = error as? NSMError { return error.message }
    return "\(error)"
  }
}
