/// Waits until `condition` holds, checking every 10 ms, for at most `limit`; returns whether it
/// held. For state that settles asynchronously (a freed subscription), never for timing claims.
public func eventually(
  within limit: Duration = .seconds(10),
  _ condition: @Sendable () async throws -> Bool
) async rethrows -> Bool {
  let clock = ContinuousClock()
  let deadline = clock.now + limit
  while clock.now < deadline {
    if try await condition() { return true }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return try await condition()
}
