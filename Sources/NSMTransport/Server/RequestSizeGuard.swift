internal import NIOCore
internal import NIOHPACK
internal import NIOHTTP2

/// Refuses a request message over the size limit with RESOURCE_EXHAUSTED, on that call only.
///
/// The transport enforces the same limit by resetting the stream (RST_STREAM CANCEL), which a
/// client reports as CANCELLED and cannot tell from a cancelled call. This handler sits in
/// front of it on every HTTP/2 stream, reads the gRPC length prefixes of the request, and
/// answers an oversized message with a status instead; the rest of the call is dropped.
final class RequestSizeGuard: ChannelDuplexHandler, RemovableChannelHandler {
  typealias InboundIn = HTTP2Frame.FramePayload
  typealias InboundOut = HTTP2Frame.FramePayload
  typealias OutboundIn = HTTP2Frame.FramePayload
  typealias OutboundOut = HTTP2Frame.FramePayload

  private let limit: Int
  /// Bytes of the current message still to come in DATA frames.
  private var remaining = 0
  /// Bytes of the 5-byte message prefix seen so far.
  private var prefix: [UInt8] = []
  private var sentHeaders = false
  private var refused = false

  init(limit: Int) {
    self.limit = limit
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    if refused { return }
    if case .data(let frame) = unwrapInboundIn(data), case .byteBuffer(let buffer) = frame.data,
      let size = oversized(in: buffer)
    {
      refuse(context: context, size: size)
      return
    }
    context.fireChannelRead(data)
  }

  func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    if refused {
      // The call was answered here; what the server writes for it now has nowhere to go.
      promise?.fail(ChannelError.ioOnClosedChannel)
      return
    }
    if case .headers = unwrapOutboundIn(data) { sentHeaders = true }
    context.write(data, promise: promise)
  }

  /// Walks the message prefixes in `buffer`; the announced size of the first message over the
  /// limit, if any.
  private func oversized(in buffer: ByteBuffer) -> Int? {
    var bytes = buffer.readableBytesView[...]
    while !bytes.isEmpty {
      if remaining > 0 {
        let taken = min(remaining, bytes.count)
        remaining -= taken
        bytes = bytes.dropFirst(taken)
        continue
      }
      let needed = 5 - prefix.count
      prefix += bytes.prefix(needed)
      bytes = bytes.dropFirst(needed)
      guard prefix.count == 5 else { break }
      let size = prefix[1...4].reduce(0) { $0 << 8 | Int($1) }
      prefix = []
      if size > limit { return size }
      remaining = size
    }
    return nil
  }

  private func refuse(context: ChannelHandlerContext, size: Int) {
    refused = true
    var trailers: HPACKHeaders = sentHeaders ? [:] : [":status": "200", "content-type": "application/grpc"]
    trailers.add(name: "grpc-status", value: "8")
    // Plain ASCII: nothing to percent-encode.
    trailers.add(name: "grpc-message", value: "request message of \(size) bytes is over the limit of \(limit) bytes")
    let written = context.eventLoop.makePromise(of: Void.self)
    context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: trailers, endStream: true))), promise: written)
    // The client may still be sending the message: the stream is reset once it has the status.
    let channel = context.channel
    written.futureResult.whenComplete { _ in channel.close(promise: nil) }
  }
}
