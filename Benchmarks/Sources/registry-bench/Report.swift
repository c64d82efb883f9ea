import BenchSupport
import Foundation

/// The Markdown printed at the end of a run.
func report(
  results: [ScenarioResult],
  startedAt: Date,
  plan: Plan,
  warmup: Duration,
  clients: Int,
  loadBefore: String?,
  loadAfter: String?
) -> String {
  var lines = reportHeader(
    tool: "registry-bench",
    startedAt: startedAt,
    clients: clients,
    warmup: warmup,
    plan: plan,
    loadBefore: loadBefore,
    loadAfter: loadAfter
  )
  lines.append("")
  lines.append("| Scenario | NSEs in store | Clients | Calls | ops/s | p50 ms | p99 ms | CPU µs/call |")
  lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
  for result in results {
    lines.append(
      "| \(result.name) | \(result.storeSize.map(String.init) ?? "-") | \(result.clients) | \(result.calls) "
        + "| \(format(result.opsPerSecond, digits: 0)) | \(format(result.percentileMilliseconds(0.50), digits: 3)) "
        + "| \(format(result.percentileMilliseconds(0.99), digits: 3)) "
        + "| \(format(result.cpuMicrosecondsPerCall, digits: 0)) |"
    )
  }

  let echoRuns = results.filter { $0.name.hasPrefix("Echo") }
  let echo = ScenarioResult.pooled("Echo (pooled)", echoRuns)
  let finds = results.filter { $0.name.hasPrefix("Find") }
  let register = results.first { $0.name.hasPrefix("Register") }

  func ratio(_ name: String, _ numerator: ScenarioResult?, _ denominator: ScenarioResult?) -> String? {
    guard let numerator, let denominator else { return nil }
    let throughput = numerator.opsPerSecond / denominator.opsPerSecond
    let p50 = numerator.percentileMilliseconds(0.50) / denominator.percentileMilliseconds(0.50)
    let p99 = numerator.percentileMilliseconds(0.99) / denominator.percentileMilliseconds(0.99)
    return "| \(name) | \(format(throughput, digits: 2)) | \(format(p50, digits: 2)) | \(format(p99, digits: 2)) |"
  }
  func storeLabel(_ result: ScenarioResult?) -> String { result?.storeSize.map { "\($0) NSEs" } ?? "?" }

  lines.append("")
  if echoRuns.count > 1 {
    lines.append(
      "Ratios are of throughput and of latency percentiles; \"echo\" is the \(echoRuns.count) echo runs pooled "
        + "(samples merged): \(echo?.calls ?? 0) calls, \(format(echo?.opsPerSecond ?? .nan, digits: 0)) ops/s, "
        + "p50 \(format(echo?.percentileMilliseconds(0.5) ?? .nan, digits: 3)) ms, "
        + "p99 \(format(echo?.percentileMilliseconds(0.99) ?? .nan, digits: 3)) ms."
    )
    lines.append("")
  }
  lines.append("| Ratio | ops/s | p50 | p99 |")
  lines.append("| --- | ---: | ---: | ---: |")
  let small = finds.first
  let large = finds.count > 1 ? finds[1] : nil
  let rows = [
    ratio("Register / echo", register, echo),
    ratio("Find-by-name (\(storeLabel(small))) / echo", small, echo),
    ratio("Find-by-name (\(storeLabel(large))) / echo", large, echo),
    ratio("Find-by-name \(storeLabel(large)) / \(storeLabel(small))", large, small),
  ]
  lines += rows.compactMap { $0 }
  return lines.joined(separator: "\n")
}
