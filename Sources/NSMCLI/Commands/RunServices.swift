internal import Logging
internal import ServiceLifecycle

/// Runs `services` until SIGTERM or SIGINT, then shuts them down in reverse order. A service
/// in `endingGroup` that returns on its own (an endpoint that went idle, a client whose work is
/// done) shuts the whole group down gracefully.
func runServices(_ services: [any Service], endingGroup: Set<Int> = [], logger: Logger) async throws {
  var groupConfiguration = ServiceGroupConfiguration(
    services: services.enumerated().map { index, service in
      var configuration = ServiceGroupConfiguration.ServiceConfiguration(service: service)
      if endingGroup.contains(index) { configuration.successTerminationBehavior = .gracefullyShutdownGroup }
      return configuration
    },
    gracefulShutdownSignals: [.sigterm, .sigint],
    logger: logger
  )
  // A drain that never finishes (a stuck client) escalates to cancellation.
  groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
  try await ServiceGroup(configuration: groupConfiguration).run()
}
