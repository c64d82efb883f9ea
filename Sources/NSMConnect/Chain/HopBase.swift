public import NSMCore
public import NSMTransport

/// What every hop runs first, manager and endpoint alike (upstream's endpoint base chain):
/// its path segment, one event at a time per connection, its token, the token rules (mTLS),
/// expiry, and the monitor's record.
@ConnectChainBuilder
public func hopBase(
  name: String,
  identity: WorkloadIdentity?,
  maxTokenLifetime: Duration,
  monitor: ConnectionMonitor,
  time: any TimeSource
) -> some ConnectElement {
  UpdatePathElement(name: name)
  BeginElement()
  TokenElement(identity: identity, maxTokenLifetime: maxTokenLifetime, time: time)
  if let identity {
    AuthorizeElement(identity: identity, time: time)
  } else {
    PassThrough()
  }
  TimeoutElement(time: time)
  MonitorElement(monitor: monitor)
}
