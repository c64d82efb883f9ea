public import GRPCCore
internal import GRPCNIOTransportHTTP2
public import Logging
public import NSMAPI
public import NSMAPIGRPC
public import NSMCore
public import NSMTransport
public import SwiftProtobuf

/// `networkservice.NetworkService` and `connection.MonitorConnection` on the wire, in front of
/// one hop's chain and its monitor.
public struct NetworkServiceService<Chain: ConnectHandler>: Networkservice_NetworkService.ServiceProtocol {
  public let chain: Chain
  public let logger: Logger
  public let time: any TimeSource

  public init(chain: Chain, logger: Logger, time: any TimeSource = SystemTime()) {
    self.chain = chain
    self.logger = logger
    self.time = time
  }

  public func request(
    request: ServerRequest<Networkservice_NetworkServiceRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Connection_Connection> {
    try await mappingErrors {
      let connectContext = try makeContext(request.metadata, context)
      let answer = try await chain.request(request.message, context: connectContext)
      return ServerResponse(message: answer)
    }
  }

  public func close(
    request: ServerRequest<Connection_Connection>,
    context: ServerContext
  ) async throws -> ServerResponse<Google_Protobuf_Empty> {
    try await mappingErrors {
      let connectContext = try makeContext(request.metadata, context)
      try await chain.close(request.message, context: connectContext)
      return ServerResponse(message: Google_Protobuf_Empty())
    }
  }

  func makeContext(_ metadata: Metadata, _ server: ServerContext) throws(NSMError) -> ConnectContext {
    var context = ConnectContext(logger: logger)
    if let timeout = GRPCTimeout.timeout(in: metadata) {
      context.deadline = .now + timeout
    }
    context.peer = (server.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
      .flatMap(WorkloadIdentity.peer(of:))
    context.incomingToken = try ClientToken.incoming(metadata)
    return context
  }
}

/// `connection.MonitorConnection`: a state transfer, then changes, until the caller leaves or
/// the server shuts down.
public struct MonitorConnectionService: Connection_MonitorConnection.ServiceProtocol {
  public let monitor: ConnectionMonitor
  public let streams: ActiveStreams

  public init(monitor: ConnectionMonitor, streams: ActiveStreams) {
    self.monitor = monitor
    self.streams = streams
  }

  public func monitorConnections(
    request: ServerRequest<Connection_MonitorScopeSelector>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Connection_ConnectionEvent> {
    let selector = request.message
    return StreamingServerResponse { writer in
      try await streams.run {
        let events = monitor.subscribe(selector)
        do {
          for try await event in events { try await writer.write(event) }
        } catch let overflow as MonitorOverflow {
          throw RPCError(
            code: .resourceExhausted,
            message: "the monitor stream fell \(overflow.bufferSize) events behind; subscribe again for a fresh state"
          )
        }
      }
      return [:]
    }
  }
}
