internal import NSMCore
internal import Synchronization

/// Forwarded calls counted per peer registry, for logs now and metrics later.
public final class PeerStatistics: Sendable {
  public struct Peer: Hashable, Sendable {
    public var domain: String
    /// `tcp://host:port` of the registry that was called.
    public var address: String
  }

  public struct Counts: Sendable, Equatable {
    /// Calls that got an answer from the peer (any status the peer itself returned).
    public var answered = 0
    /// Calls that never reached the peer or lost it midway (UNAVAILABLE from the transport,
    /// deadline exceeded).
    public var failed = 0
    /// The time answered calls took, summed; with `answered`, the mean latency.
    public var totalLatency: Duration = .zero
  }

  private let counts = Mutex<[Peer: Counts]>([:])

  public init() {}

  public var snapshot: [Peer: Counts] { counts.withLock { $0 } }

  /// The counts for one domain, summed over its addresses.
  public func counts(domain: String) -> Counts {
    counts.withLock { counts in
      counts.filter { ScopedName.sameDomain($0.key.domain, domain) }.values.reduce(into: Counts()) {
        $0.answered += $1.answered
        $0.failed += $1.failed
        $0.totalLatency += $1.totalLatency
      }
    }
  }

  func record(_ peer: Peer, answered: Bool, latency: Duration) {
    counts.withLock { counts in
      if answered {
        counts[peer, default: Counts()].answered += 1
        counts[peer, default: Counts()].totalLatency += latency
      } else {
        counts[peer, default: Counts()].failed += 1
      }
    }
  }
}
