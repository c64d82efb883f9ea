internal import NSMCore
internal import Synchronization

/// Calls to peers counted per peer address, for logs now and metrics later.
///
/// Callers name the addresses (`name@host:port`), so the table is bounded: beyond
/// ``capacity`` peers the one heard of least recently is forgotten.
public final class PeerStatistics: Sendable {
  public struct Peer: Hashable, Sendable {
    public var domain: String
    /// `tcp://host:port` of the peer that was called.
    public var address: String

    public init(domain: String, address: String) {
      self.domain = domain
      self.address = address
    }
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

  private struct Entry {
    var counts = Counts()
    var lastUse: UInt64 = 0
  }

  private struct State {
    var entries: [Peer: Entry] = [:]
    var uses: UInt64 = 0
  }

  private let state = Mutex(State())
  public let capacity: Int

  public init(capacity: Int = 1024) {
    self.capacity = max(1, capacity)
  }

  public var snapshot: [Peer: Counts] { state.withLock { $0.entries.mapValues(\.counts) } }

  /// The counts for one domain, summed over its addresses.
  public func counts(domain: String) -> Counts {
    state.withLock { state in
      state.entries.filter { ScopedName.sameDomain($0.key.domain, domain) }.values.reduce(into: Counts()) {
        $0.answered += $1.counts.answered
        $0.failed += $1.counts.failed
        $0.totalLatency += $1.counts.totalLatency
      }
    }
  }

  func record(_ peer: Peer, answered: Bool, latency: Duration) {
    state.withLock { state in
      state.uses += 1
      var entry = state.entries[peer] ?? Entry()
      entry.lastUse = state.uses
      if answered {
        entry.counts.answered += 1
        entry.counts.totalLatency += latency
      } else {
        entry.counts.failed += 1
      }
      state.entries[peer] = entry
      if state.entries.count > capacity {
        // Forget the least recently heard tenth at once, so eviction stays rare.
        let forget = state.entries.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(max(1, capacity / 10))
        for (peer, _) in forget { state.entries[peer] = nil }
      }
    }
  }
}
