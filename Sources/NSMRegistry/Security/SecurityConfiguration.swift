internal import Foundation
public import NSMCore
public import NSMSecurity
internal import Synchronization

/// How a registry authenticates and authorizes (docs/security.md). Without an identity it runs
/// plaintext and checks nothing (`--insecure`).
public struct SecurityConfiguration: Sendable {
  /// This registry's SVID and trust bundles; nil for plaintext.
  public var identity: WorkloadIdentity?
  /// The domain policy; nil for the default (own trust domain only).
  public var policy: PolicySource?
  /// The longest a path token this registry signs lives (`NSM_MAX_TOKEN_LIFETIME`).
  public var maxTokenLifetime: Duration = .seconds(600)

  public init() {}
}

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
