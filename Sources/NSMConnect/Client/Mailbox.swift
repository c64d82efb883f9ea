internal import DequeModule
internal import Synchronization

/// Signals to one waiting task: posted from anywhere, received in order (a signal already
/// pending is not queued twice), and a receive that is cancelled returns nil.
final class Mailbox<Message: Sendable & Equatable>: Sendable {
  private struct State {
    var pending: Deque<Message> = []
    var waiter: CheckedContinuation<Message?, Never>?
  }

  private let state = Mutex(State())

  func post(_ message: Message) {
    let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
      if let waiter = state.waiter {
        state.waiter = nil
        return waiter
      }
      // A signal already waiting says the same: one is enough.
      if !state.pending.contains(message) { state.pending.append(message) }
      return nil
    }
    waiter?.resume(returning: message)
  }

  /// Drops what is pending (signals about a state that is past).
  func clear() {
    state.withLock { $0.pending.removeAll() }
  }

  func receive() async -> Message? {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Message?, Never>) in
        let immediate = state.withLock { state -> Message?? in
          if let message = state.pending.popFirst() { return .some(message) }
          if Task.isCancelled { return .some(nil) }
          state.waiter = continuation
          return nil
        }
        if let immediate { continuation.resume(returning: immediate) }
      }
    } onCancel: {
      let waiter = state.withLock { state -> CheckedContinuation<Message?, Never>? in
        defer { state.waiter = nil }
        return state.waiter
      }
      waiter?.resume(returning: nil)
    }
  }
}
