internal import NIOCore
internal import NIOHTTP2
internal import Synchronization

/// What the transport does not bound by itself, per accepted connection: the number of open
/// connections, how long one may take to complete its handshakes, and how long it may stay
/// silent. Installed through the transport's accept hook (``GRPCServerHost``), which runs once
/// TLS and HTTP/2 are in the pipeline.
final class ConnectionGuard: Sendable {
  private let open = Atomic<Int>(0)
  let maxConnections: Int
  let handshakeTimeout: TimeAmount
  let silenceLimit: TimeAmount

  init(limits: ServerLimits) {
    maxConnections = limits.maxConnections
    handshakeTimeout = TimeAmount(limits.handshakeTimeout)
    // A live client is never silent for longer: the server pings it after keepaliveTime
    // without a read, and it must answer within keepaliveTimeout. Twice that, for slack.
    silenceLimit = TimeAmount(limits.keepaliveTime + limits.keepaliveTimeout * 2)
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
      try sync.addHandler(
        SilenceGuard(handshakeTimeout: handshakeTimeout, silenceLimit: silenceLimit),
        position: .after(http2)
      )
    }
  }
}

/// Closes a connection whose client has not sent its HTTP/2 SETTINGS (which follow the
/// connection preface, and the TLS handshake when there is one) within the handshake timeout,
/// and later one that sent nothing for longer than a live client can be silent.
///
/// The second matters once a connection is being closed gracefully (idle too long): the server
/// sends GOAWAY and a PING and waits for the PING's answer, without keepalive, so a client that
/// never answers would hold the connection forever.
final class SilenceGuard: ChannelInboundHandler {
  typealias InboundIn = HTTP2Frame
  typealias InboundOut = HTTP2Frame

  private let handshakeTimeout: TimeAmount
  private let silenceLimit: TimeAmount
  private var handshaken = false
  private var lastRead = NIODeadline.now()
  private var check: RepeatedTask?

  init(handshakeTimeout: TimeAmount, silenceLimit: TimeAmount) {
    self.handshakeTimeout = handshakeTimeout
    self.silenceLimit = silenceLimit
  }

  func handlerAdded(context: ChannelHandlerContext) {
    let start = NIODeadline.now()
    lastRead = start
    let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
    let channel = context.channel
    // A check now and then, rather than a timer moved on every read.
    let interval = TimeAmount.nanoseconds(min(handshakeTimeout, silenceLimit).nanoseconds / 4)
    check = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
      let guarded = loop.value
      let now = NIODeadline.now()
      if !guarded.handshaken && now - start >= guarded.handshakeTimeout
        || guarded.handshaken && now - guarded.lastRead >= guarded.silenceLimit
      {
        task.cancel()
        channel.close(promise: nil)
      }
    }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    check?.cancel()
    check = nil
  }

  func channelInactive(context: ChannelHandlerContext) {
    check?.cancel()
    check = nil
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    lastRead = .now()
    if !handshaken, case .settings(.settings) = unwrapInboundIn(data).payload { handshaken = true }
    context.fireChannelRead(data)
  }
}
