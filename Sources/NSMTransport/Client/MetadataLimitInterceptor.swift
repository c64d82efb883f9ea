internal import GRPCCore

/// Refuses, before it is sent, a call whose metadata the server would not take.
///
/// Our servers (SwiftNIO HTTP/2) advertise SETTINGS_MAX_HEADER_LIST_SIZE of 16 KiB and end the
/// whole connection with GOAWAY when a header block is larger, which would also end every other
/// call sharing the connection (a pooled peer connection carries many). grpc-go checks the
/// peer's limit before sending; this does the same for our clients, counting as RFC 9113 §6.5.2
/// does (name + value + 32 per field).
struct MetadataLimitInterceptor: ClientInterceptor {
  static let limit = 16 * 1024
  /// Room for the pseudo-headers and fixed headers gRPC adds (`:path`, `content-type`, `te`, ...).
  static let reserved = 1024

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    let size = Self.size(of: request.metadata)
    guard size + Self.reserved <= Self.limit else {
      throw RPCError(
        code: .resourceExhausted,
        message:
          "the call's metadata is \(size) bytes; servers take at most \(Self.limit - Self.reserved) (16 KiB header list)"
      )
    }
    return try await next(request, context)
  }

  static func size(of metadata: Metadata) -> Int {
    var size = 0
    for (key, value) in metadata {
      switch value {
      case .string(let text): size += key.utf8.count + text.utf8.count + 32
      // Binary values travel base64-encoded.
      case .binary(let bytes): size += key.utf8.count + (bytes.count + 2) / 3 * 4 + 32
      }
    }
    return size
  }
}
