public import NSMAPI
public import NSMCore
internal import Synchronization

/// Upstream's `timeout`: a connection whose caller stops refreshing it is closed when the
/// previous path segment expires, so a client that vanished (kill -9) leaves nothing behind.
public struct TimeoutElement: ConnectElement {
  private let timers = ExpiryTimers()
  private let time: any TimeSource

  public init(time: any TimeSource = SystemTime()) {
    self.time = time
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let answer = try await next.request(request, context: context)
    if let previous = answer.previousSegment ?? request.connection.previousSegment, previous.hasExpires,
      let events = context.events
    {
      let remaining = Duration.seconds(previous.expires.date.timeIntervalSince(time.date))
      timers.schedule(answer.id, at: time.now + remaining, time: time, events: events)
    }
    return answer
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    timers.cancel(connection.id)
    try await next.close(connection, context: context)
  }

  /// Connections with an expiry pending.
  public var pending: Int { timers.count }
}

final class ExpiryTimers: Sendable {
  private struct Timer {
    let generation: Int
    let task: Task<Void, Never>
  }

  private struct State {
    var timers: [String: Timer] = [:]
    var generation = 0
  }

  private let state = Mutex(State())

  func schedule(_ id: String, at deadline: ContinuousClock.Instant, time: any TimeSource, events: ConnectionEvents) {
    // Created under the lock, so the table holds the task before it can run.
    let replaced = state.withLock { state -> Task<Void, Never>? in
      state.generation += 1
      let generation = state.generation
      let task = Task {
        do {
          try await time.sleep(until: deadline)
        } catch {
          return  // refreshed or closed meanwhile
        }
        // Out of the table first: the Close this starts runs ``cancel(_:)``, which must not
        // cancel the very task doing the closing; a newer timer (a refresh) wins.
        let current = self.state.withLock { state -> Bool in
          guard state.timers[id]?.generation == generation else { return false }
          state.timers[id] = nil
          return true
        }
        if current { await events.close() }
      }
      return state.timers.updateValue(Timer(generation: generation, task: task), forKey: id)?.task
    }
    replaced?.cancel()
  }

  func cancel(_ id: String) {
    state.withLock { $0.timers.removeValue(forKey: id) }?.task.cancel()
  }

  var count: Int { state.withLock { $0.timers.count } }
}
