internal import Dispatch

/// Runs `work`, which blocks (a libldns query, a child process to wait for), on a thread of its
/// own and returns its result.
///
/// Not on `DispatchQueue.global()`: on Linux Swift's cooperative pool runs on those same global
/// queues, one thread per core, so blocking work there stalls every task of the process (two
/// slow DNS queries on a 2-core machine and a registry stops answering). A serial queue of its
/// own targets libdispatch's overcommit pool, which adds a thread when one is needed.
public func runBlocking<T: Sendable>(_ label: String, _ work: @escaping @Sendable () -> T) async -> T {
  await withCheckedContinuation { continuation in
    DispatchQueue(label: label).async { continuation.resume(returning: work()) }
  }
}
