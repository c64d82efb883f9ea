internal import NIOCore
public import NIOPosix

/// Runs tasks on SwiftNIO's event loops instead of Swift's cooperative pool, so that a call's
/// handler runs where its connection's bytes are read and written: a job enqueued from an
/// event loop's thread (a handler resumed because its stream got a message) stays on that
/// loop; any other goes to the next loop of the group.
///
/// Without it every call hops from the event loop to the pool and back, at least twice, and
/// each hop is a thread wake-up: on two cores that was a third of a registry's time under load
/// (docs/benchmarks.md "One call"). Work that blocks never runs on it (``runBlocking(_:_:)``
/// has threads of its own), and nothing here holds a lock across a suspension.
public final class EventLoopExecutor: TaskExecutor {
  public let group: MultiThreadedEventLoopGroup

  public init(group: MultiThreadedEventLoopGroup = .singleton) {
    self.group = group
  }

  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
    loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }

  public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
    UnownedTaskExecutor(ordinary: self)
  }
}
