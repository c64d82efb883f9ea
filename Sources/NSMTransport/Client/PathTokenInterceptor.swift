internal import GRPCCore
internal import NSMSecurity

/// A registry client's side of path tokens: every call carries a path of one segment, this
/// workload's token for the registry it talks to (upstream's per-RPC credentials).
struct PathTokenInterceptor: ClientInterceptor {
  let identity: WorkloadIdentity
  let peer: PeerIdentityBox
  let maxTokenLifetime: Duration

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    var request = request
    if let server = peer.value {
      let token = try await identity.token(for: server.id, peerNotAfter: server.notAfter, maxLifetime: maxTokenLifetime)
      request.metadata.replaceOrAddString(
        RegistryPath(index: 0, tokens: [token.text]).json,
        forKey: RegistryPath.metadataKey
      )
    }
    return try await next(request, context)
  }
}
