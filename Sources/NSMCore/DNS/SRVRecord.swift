/// One SRV answer (RFC 2782): where a service runs, with its rank among the others.
public struct SRVRecord: Hashable, Sendable {
  public var priority: UInt16
  public var weight: UInt16
  public var port: UInt16
  /// An absolute name with its trailing dot; "." means the service is decidedly not available.
  public var target: String
  public var ttl: UInt32

  public init(priority: UInt16, weight: UInt16, port: UInt16, target: String, ttl: UInt32) {
    self.priority = priority
    self.weight = weight
    self.port = port
    self.target = target
    self.ttl = ttl
  }

  /// The lone "." target of RFC 2782.
  public var isServiceUnavailable: Bool { target == "." }
}

/// RFC 2782's order of SRV targets: lowest priority first; within one priority a weighted random
/// permutation, where a target's chance to come next is its weight over the remaining weights
/// (weight-0 targets are picked only rarely, when no weighted target remains or the draw is 0).
public enum SRVOrder {
  public static func order<Generator: RandomNumberGenerator>(
    _ records: [SRVRecord],
    using generator: inout Generator
  ) -> [SRVRecord] {
    var ordered: [SRVRecord] = []
    let byPriority = Dictionary(grouping: records, by: \.priority)
    for priority in byPriority.keys.sorted() {
      // Zero weights first, as the RFC's selection algorithm asks, so they are chosen only when
      // the random draw is 0 or nothing else is left.
      var remaining = byPriority[priority]!.sorted { ($0.weight == 0 ? 0 : 1) < ($1.weight == 0 ? 0 : 1) }
      while !remaining.isEmpty {
        let total = remaining.reduce(0) { $0 + Int($1.weight) }
        let draw = total == 0 ? 0 : Int.random(in: 0...total, using: &generator)
        var running = 0
        var chosen = remaining.count - 1
        for (index, record) in remaining.enumerated() {
          running += Int(record.weight)
          if running >= draw {
            chosen = index
            break
          }
        }
        ordered.append(remaining.remove(at: chosen))
      }
    }
    return ordered
  }
}

/// A seedable generator (SplitMix64) so tests can check weighted ordering deterministically.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) {
    state = seed
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
