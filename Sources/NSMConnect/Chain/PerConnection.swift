internal import Synchronization

/// What an element keeps per connection id between a connection's Requests and its Close.
final class PerConnection<Value: Sendable>: Sendable {
  private let values = Mutex<[String: Value]>([:])

  func get(_ id: String) -> Value? { values.withLock { $0[id] } }
  func set(_ id: String, _ value: Value) { values.withLock { $0[id] = value } }
  @discardableResult
  func remove(_ id: String) -> Value? { values.withLock { $0.removeValue(forKey: id) } }
  var count: Int { values.withLock { $0.count } }
}
