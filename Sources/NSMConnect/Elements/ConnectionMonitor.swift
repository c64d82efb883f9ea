public import NSMAPI
internal import Synchronization

/// What one hop tells `MonitorConnections` subscribers: the connections it holds, as it
/// answered them, and every change to them (upstream's monitor server, reference §4.6).
///
/// Each subscriber gets its state transfer and later events in order from one lock, so none is
/// missed or seen twice; one that falls behind by more than its buffer is cut off.
public final class ConnectionMonitor: Sendable {
  public typealias Events = AsyncThrowingStream<Connection_ConnectionEvent, any Error>

  private struct Subscriber {
    let selector: Connection_MonitorScopeSelector
    let continuation: Events.Continuation
  }

  private struct State {
    var connections: [String: Connection_Connection] = [:]
    var subscribers: [Int: Subscriber] = [:]
    var nextID = 0
  }

  private let state = Mutex(State())
  public let bufferSize: Int

  public init(bufferSize: Int = 1024) {
    self.bufferSize = bufferSize
  }

  /// The connections held now.
  public var connections: [Connection_Connection] { state.withLock { Array($0.connections.values) } }

  public func connection(_ id: String) -> Connection_Connection? { state.withLock { $0.connections[id] } }

  public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

  /// Events for `selector`: first INITIAL_STATE_TRANSFER (also when empty), then UPDATE and
  /// DELETE of matching connections.
  public func subscribe(_ selector: Connection_MonitorScopeSelector) -> Events {
    let (stream, continuation) = Events.makeStream(bufferingPolicy: .bufferingNewest(bufferSize + 1))
    let id = state.withLock { state -> Int in
      let id = state.nextID
      state.nextID += 1
      var initial = Connection_ConnectionEvent()
      initial.type = .initialStateTransfer
      for (key, connection) in state.connections where selector.matches(connection) {
        initial.connections[key] = connection
      }
      continuation.yield(initial)
      state.subscribers[id] = Subscriber(selector: selector, continuation: continuation)
      return id
    }
    // Not under the lock here: this runs inside the cancellation of the subscriber's task,
    // while a publish may hold the lock and wait to resume that very task (a deadlock seen
    // under load). Later is fine: a publish to a finished stream is dropped.
    continuation.onTermination = { [weak self] _ in
      Task { _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) } }
    }
    return stream
  }

  public func update(_ connection: Connection_Connection) {
    publish(connection, type: .update)
  }

  public func delete(_ connection: Connection_Connection) {
    publish(connection, type: .delete)
  }

  /// Marks a held connection DOWN (its next hop died or dropped it), for the client's heal.
  public func markDown(_ id: String) {
    guard var connection = connection(id), connection.state != .down else { return }
    connection.state = .down
    publish(connection, type: .update)
  }

  /// Ends every stream (shutdown).
  public func finishAll() {
    let subscribers = state.withLock { state in
      defer { state.subscribers = [:] }
      return Array(state.subscribers.values)
    }
    for subscriber in subscribers { subscriber.continuation.finish() }
  }

  private func publish(_ connection: Connection_Connection, type: Connection_ConnectionEventType) {
    let overflowed = state.withLock { state -> [Events.Continuation] in
      if type == .delete {
        guard state.connections.removeValue(forKey: connection.id) != nil else { return [] }
      } else {
        state.connections[connection.id] = connection
      }
      var event = Connection_ConnectionEvent()
      event.type = type
      event.connections[connection.id] = connection
      var overflowed: [Events.Continuation] = []
      for (id, subscriber) in state.subscribers where subscriber.selector.matches(connection) {
        switch subscriber.continuation.yield(event) {
        case .dropped:
          overflowed.append(subscriber.continuation)
          state.subscribers[id] = nil
        case .terminated:
          state.subscribers[id] = nil
        default:
          break
        }
      }
      return overflowed
    }
    for continuation in overflowed {
      continuation.finish(
        throwing: MonitorOverflow(bufferSize: bufferSize)
      )
    }
  }
}

/// A monitor subscriber that fell too far behind; it must resubscribe for a fresh state transfer.
public struct MonitorOverflow: Error, Sendable {
  public let bufferSize: Int
}

/// Upstream's `monitor` server element: a successful Request is an UPDATE, a failed refresh of
/// a held connection turns it DOWN, a Close is a DELETE.
public struct MonitorElement: ConnectElement {
  public let monitor: ConnectionMonitor

  public init(monitor: ConnectionMonitor) {
    self.monitor = monitor
  }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    do {
      let answer = try await next.request(request, context: context)
      monitor.update(answer)
      return answer
    } catch {
      monitor.markDown(request.connection.id)
      throw error
    }
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    defer {
      if !context.isReselecting { monitor.delete(monitor.connection(connection.id) ?? connection) }
    }
    try await next.close(connection, context: context)
  }
}
