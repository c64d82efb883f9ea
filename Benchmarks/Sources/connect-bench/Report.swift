import BenchSupport
import Foundation

/// The Markdown printed at the end of a run.
func report(
  heal: [Double],
  results: [ScenarioResult],
  holding: Holding,
  startedAt: Date,
  plan: Plan,
  warmup: Duration,
  clients: Int,
  loadBefore: String?,
  loadAfter: String?
) -> String {
  var lines = reportHeader(
    tool: "connect-bench",
    startedAt: startedAt,
    clients: clients,
    warmup: warmup,
    plan: plan,
    loadBefore: loadBefore,
    loadAfter: loadAfter
  )
  lines += [
    "", "| Scenario | Clients | Calls | ops/s | p50 ms | p99 ms | CPU µs/call |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ]
  for result in results {
    lines.append(
      "| \(result.name) | \(result.clients) | \(result.calls) | \(format(result.opsPerSecond, digits: 0)) "
        + "| \(format(result.percentileMilliseconds(0.50), digits: 3)) | \(format(result.percentileMilliseconds(0.99), digits: 3)) "
        + "| \(format(result.cpuMicrosecondsPerCall, digits: 0)) |"
    )
  }
  let echo = ScenarioResult.pooled("Echo (pooled)", results.filter { $0.name.hasPrefix("Echo") })
  lines += ["", "| Ratio to the pooled echo | ops/s | p50 | p99 | CPU/call |", "| --- | ---: | ---: | ---: | ---: |"]
  for result in results where result.name.hasPrefix("Request") {
    guard let echo else { continue }
    lines.append(
      "| \(result.name) | \(format(result.opsPerSecond / echo.opsPerSecond, digits: 2)) "
        + "| \(format(result.percentileMilliseconds(0.5) / echo.percentileMilliseconds(0.5), digits: 2)) "
        + "| \(format(result.percentileMilliseconds(0.99) / echo.percentileMilliseconds(0.99), digits: 2)) "
        + "| \(format(result.cpuMicrosecondsPerCall / echo.cpuMicrosecondsPerCall, digits: 2)) |"
    )
  }
  lines += [
    "",
    "\(holding.count) connections held by manager 1 (and its endpoint, in the same process): "
      + "\(format(holding.bytesPerConnection / 1024, digits: 1)) KiB resident per connection (client, manager and endpoint state together); "
      + "refreshing all of them took \(format(holding.refreshWall.seconds * 1000, digits: 0)) ms "
      + "and \(format(holding.refreshCPU.seconds * 1e6 / Double(holding.count), digits: 0)) µs CPU per refresh.",
  ]
  if !heal.isEmpty {
    let sorted = heal.sorted()
    lines += [
      "",
      "Heal (kill -9 of the selected endpoint until the client prints its connection to the other; "
        + "\(heal.count) rounds, nsm at \(ProcessInfo.processInfo.environment["NSM_EXECUTABLE"] ?? "the debug build")): "
        + "median \(format(sorted[sorted.count / 2], digits: 1)) ms, min \(format(sorted[0], digits: 1)) ms, "
        + "max \(format(sorted[sorted.count - 1], digits: 1)) ms; each: "
        + heal.map { format($0, digits: 0) }.joined(separator: ", ") + " ms.",
    ]
  }
  return lines.joined(separator: "\n")
}
