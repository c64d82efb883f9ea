public import Logging
public import NSMCore
public import NSMStore
public import ServiceLifecycle

/// Removes endpoint registrations whose lease has run out; the store tells their watchers.
public struct ExpiryReaper<Store: RecordStore>: Service {
  let store: Store
  let interval: Duration
  let time: any TimeSource
  let logger: Logger

  public init(store: Store, interval: Duration, time: any TimeSource = SystemTime(), logger: Logger) {
    self.store = store
    self.interval = interval
    self.time = time
    self.logger = logger
  }

  public func run() async throws {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        do {
          try await time.sleep(for: interval)
          for record in try await store.removeExpired(now: time.date) {
            logger.info("expired \(record.label)")
          }
        } catch is CancellationError {
          return
        } catch {
          // A failing store must not stop expiry for good: log and try on the next tick.
          logger.error("expiry check failed: \(error)")
        }
      }
    }
  }
}
