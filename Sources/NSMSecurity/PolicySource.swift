internal import Foundation
public import NSMCore
internal import Synchronization

/// The domain policy currently in force: the default, or a file re-read when it changes.
/// A file that stops parsing keeps the last good policy (and logs why).
public final class PolicySource: Sendable {
  public let path: String
  private let state: Mutex<(policy: DomainPolicy, stamp: Date?)>

  public init(file path: String) throws(NSMError) {
    self.path = path
    state = Mutex((try DomainPolicy.load(file: path), Self.stamp(path)))
  }

  public var policy: DomainPolicy { state.withLock { $0.policy } }

  /// Re-reads the file if it changed; returns the error when the new text is refused.
  @discardableResult
  public func reloadIfChanged() -> NSMError? {
    let stamp = Self.stamp(path)
    guard state.withLock({ $0.stamp != stamp }) else { return nil }
    do {
      let policy = try DomainPolicy.load(file: path)
      state.withLock { $0 = (policy, stamp) }
      return nil
    } catch {
      state.withLock { $0.stamp = stamp }
      return error
    }
  }

  private static func stamp(_ path: String) -> Date? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate]) as? Date
  }
}
