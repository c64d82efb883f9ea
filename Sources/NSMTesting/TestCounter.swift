internal import Synchronization

/// A count shared by a test's concurrent tasks.
public final class TestCounter: Sendable {
  private let value = Atomic<Int>(0)

  public init() {}

  public var count: Int { value.load(ordering: .relaxed) }

  public func increment() {
    value.add(1, ordering: .relaxed)
  }
}
