internal import GRPCCore
internal import Synchronization

/// The long-lived Find streams of one server, so they end when their client goes away and
/// when the server shuts down.
///
/// grpc-swift-2 does not cancel a handler's task in either case (it signals through the RPC
/// cancellation handle instead), so each watch runs in a task of its own that this type
/// cancels. A cancelled watch ends cleanly: the client sees status OK after the last event.
public final class ActiveStreams: Sendable {
  private struct State {
    var closed = false
    var nextID = 0
    var tasks: [Int: Task<Void, any Error>] = [:]
  }

  private let state = Mutex(State())

  public init() {}

  public var count: Int { state.withLock { $0.tasks.count } }

  public func run(_ operation: @escaping @Sendable () async throws -> Void) async throws {
    let task = Task { try await operation() }
    let id: Int? = state.withLock { state in
      guard !state.closed else { return nil }
      let id = state.nextID
      state.nextID += 1
      state.tasks[id] = task
      return id
    }
    if id == nil { task.cancel() }
    defer {
      if let id { state.withLock { _ = $0.tasks.removeValue(forKey: id) } }
    }
    try await withTaskCancellationHandler {
      try await withRPCCancellationHandler {
        try await task.value
      } onCancelRPC: {
        task.cancel()
      }
    } onCancel: {
      task.cancel()
    }
  }

  /// Ends every open stream and every stream opened from now on.
  public func closeAll() {
    let tasks = state.withLock { state in
      state.closed = true
      return Array(state.tasks.values)
    }
    for task in tasks { task.cancel() }
  }
}
