internal import NIOCore
internal import NIOHTTP2
internal import Synchronization

/// What the transport does not bound by itself, per accepted connection: the number of open
/// connections, and how long one may take to complete its handshakes. Installed through the
/// transport's accept hook (``GRPCServerHost``), which runs once TLS and HTTP/2 are in the
/// pipeline.
final class ConnectionGuard: Sendable {
  private let open = Atomic<Int>(0)
  let maxConnections: Int
  let handshakeTimeout: TimeAmount

  init(maxConnections: Int, handshakeTimeout: Duration) {
    self.maxConnections = maxConnections
    self.handshakeTimeout = TimeAmount(handshakeTimeout)
  }

  /// Connections open now.
  var count: Int { open.load(ordering: .relaxed) }

  func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
    let (_, now) = open.add(1, ordering: .relaxed)
    channel.closeFuture.whenComplete { _ in self.open.subtract(1, ordering: .relaxed) }
    guard now <= maxConnections else {
      // Closed at once: what it holds (a socket, a pipeline) is freed before it can speak.
      return channel.close()
    }
    return channel.eventLoop.makeCompletedFuture {
      let sync = channel.pipeline.syncOperations
      let http2 = try sync.handler(type: NIOHTTP2Handler.self)
      try sync.addHandler(HandshakeDeadlineHandler(timeout: handshakeTimeout), position: .after(http2))
    }
  }
}

/// Closes a connection whose client has not sent its HTTP/2 SETTINGS (which follow the
/// connection preface, and the TLS handshake when there is one) within the timeout, then takes
/// itself out of the pipeline.
final class HandshakeDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTP2Frame
  typealias InboundOut = HTTP2Frame

  private let timeout: TimeAmount
  private var deadline: Scheduled<Void>?

  init(timeout: TimeAmount) {
    self.timeout = timeout
  }

  func handlerAdded(context: ChannelHandlerContext) {
    let channel = context.channel
    deadline = context.eventLoop.scheduleTask(in: timeout) {
      channel.close(promise: nil)
    }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    deadline?.cancel()
    deadline = nil
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    context.fireChannelRead(data)
    if case .settings(.settings) = frame.payload {
      deadline?.cancel()
      deadline = nil
      context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
  }
}
