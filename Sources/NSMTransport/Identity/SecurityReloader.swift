public import Logging
internal import NSMCore
internal import NSMSecurity
public import ServiceLifecycle

/// Re-reads the SVID files and the policy file when they change, every second.
public struct SecurityReloader: Service {
  let security: SecurityConfiguration
  let logger: Logger
  var interval: Duration = .seconds(1)

  public init(security: SecurityConfiguration, logger: Logger) {
    self.security = security
    self.logger = logger
  }

  public func run() async throws {
    // Ends quietly at shutdown: the sleep is cancelled, the loop stops.
    await cancelWhenGracefulShutdown {
      while (try? await Task.sleep(for: interval)) != nil {
        security.identity?.reloadIfChanged()
        if let policy = security.policy {
          if let error = policy.reloadIfChanged() {
            logger.error("policy file \(policy.path) refused, keeping the previous policy: \(error.message)")
          }
        }
      }
    }
  }
}
