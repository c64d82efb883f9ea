import BenchSupport
import Foundation

/// The Markdown printed at the end of a run.
func report(
  passes: [PassResult],
  settings: Settings,
  startedAt: Date,
  wallTime: Duration,
  fdatasync: Duration?,
  loadBefore: String?,
  loadAfter: String?
) -> String {
  #if DEBUG
    let build = "debug"
  #else
    let build = "release"
  #endif
  let info = ProcessInfo.processInfo
  let measured: String
  switch settings.plan {
  case .duration(let duration): measured = "\(format(duration.seconds, digits: 1)) s per scenario"
  case .calls(let count): measured = "\(count) calls per client per scenario"
  }
  var lines: [String] = []
  lines.append(
    "postgres-bench \(ISO8601DateFormatter().string(from: startedAt)): \(build) build, "
      + "\(info.activeProcessorCount) cores, \(info.operatingSystemVersionString); "
      + "\(settings.clients) gRPC clients closed-loop, \(format(settings.warmup.seconds, digits: 1)) s warm-up, \(measured); "
      + "pgbench -c \(settings.clients) -j \(min(settings.pgbenchThreads, settings.clients)) -M prepared "
      + "-T \(settings.pgbenchSeconds) after an unrecorded -T \(settings.pgbenchWarmup); "
      + "pool \(settings.pool) connections per replica; \(settings.preload) NSEs preloaded; "
      + "wall time \(format(wallTime.seconds, digits: 0)) s"
  )
  lines.append("")
  if let loadBefore, let loadAfter {
    lines.append("Load average (1, 5, 15 min) at start: \(loadBefore); at end: \(loadAfter)")
    lines.append("")
  }
  if let fdatasync {
    lines.append(
      "8 KiB write + fdatasync in the temporary folder (where the data folders are), median of 200: "
        + "\(format(Double(fdatasync.nanoseconds) / 1e6, digits: 3)) ms"
    )
    lines.append("")
  }

  for (number, pass) in passes.enumerated() {
    let fsync = pass.serverSettings.first { $0.0 == "fsync" }?.1 ?? "?"
    lines.append(
      "**Pass \(number + 1): fsync=\(fsync).** Server: \(pass.server); as it reports: "
        + pass.serverSettings.map { "\($0.0)=\($0.1)" }.joined(separator: ", ") + "."
    )
    lines.append("")
    lines.append(
      "| Scenario | Rows in table | Clients | Calls | ops/s | p50 ms | p99 ms "
        + "| CPU µs/op: benchmark process | pgbench | PostgreSQL | all three |"
    )
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in pass.rows {
      lines.append(
        "| \(row.name) | \(row.storeSize.map(String.init) ?? "-") | \(row.clients) | \(row.calls) "
          + "| \(format(row.opsPerSecond, digits: 0)) | \(format(row.percentileMilliseconds(0.50), digits: 3)) "
          + "| \(format(row.percentileMilliseconds(0.99), digits: 3)) "
          + "| \(cpu(row, row.cpu)) | \(cpu(row, row.toolCPU)) | \(cpu(row, row.databaseCPU)) "
          + "| \(cpu(row, [row.cpu, row.toolCPU, row.databaseCPU].compactMap { $0 }.reduce(Duration.zero, +))) |"
      )
    }
    func find(_ prefix: String) -> ScenarioResult? { pass.rows.first { $0.name.hasPrefix(prefix) } }
    let register = find("Registry Register")
    let lookup = find("Registry Find")
    let select = find("pgbench select")
    let upsert = find("pgbench single-row upsert")
    let write = find("pgbench registry's write, new")
    let refreshWrite = find("pgbench registry's write, refresh")
    let storeFind = find("Store find")
    let storeRegister = find("Store register")
    let storeRefresh = find("Store refresh")
    func ratio(_ name: String, _ numerator: ScenarioResult?, _ denominator: ScenarioResult?) -> String? {
      guard let numerator, let denominator else { return nil }
      let throughput = numerator.opsPerSecond / denominator.opsPerSecond
      let p50 = numerator.percentileMilliseconds(0.50) / denominator.percentileMilliseconds(0.50)
      let p99 = numerator.percentileMilliseconds(0.99) / denominator.percentileMilliseconds(0.99)
      return "| \(name) | \(format(throughput, digits: 2)) | \(format(p50, digits: 2)) | \(format(p99, digits: 2)) |"
    }
    lines.append("")
    lines.append("| Ratio | ops/s | p50 | p99 |")
    lines.append("| --- | ---: | ---: | ---: |")
    lines += [
      ratio("Registry Register / pgbench single-row upsert", register, upsert),
      ratio("Store register / pgbench single-row upsert", storeRegister, upsert),
      ratio("Store refresh / pgbench single-row upsert", storeRefresh, upsert),
      ratio("Registry Find-by-name / pgbench select by primary key", lookup, select),
      ratio("Registry Register / pgbench registry's write, new names", register, write),
      ratio("pgbench registry's write, new names / pgbench single-row upsert", write, upsert),
      ratio("Store find / pgbench select by primary key", storeFind, select),
      ratio("Store register / pgbench registry's write, new names", storeRegister, write),
      ratio("Store refresh / pgbench registry's write, refresh", storeRefresh, refreshWrite),
      ratio("Registry Find-by-name / store find", lookup, storeFind),
      ratio("Registry Register / store register", register, storeRegister),
    ].compactMap { $0 }
    lines.append("")
    lines.append(
      "Preload: \(settings.preload) NSEs registered over gRPC by the \(settings.clients) clients at "
        + "\(format(pass.preloadRate, digits: 0)) registrations/s (not in the table); a stored record is "
        + "\(pass.recordBytes) bytes, and pgbench's rows carry those bytes."
    )
    lines.append("")

    let fan = pass.fanOut
    let total = fan.watchers.reduce(0, +)
    lines.append(
      "Watch fan-out: 2 replicas on one new database, \(fan.watchers.map(String.init).joined(separator: " + ")) "
        + "watchers (Find{watch: true}, all NSEs; \(settings.watchConnections) gRPC connections per replica), "
        + "open in \(format(fan.openTime.seconds, digits: 2)) s; \(fan.events) NSEs registered one at a time "
        + "through replica A, each after the previous one reached every watcher, after \(fan.warmupEvents) "
        + "unmeasured ones. Delay from just before the Register call to a watcher receiving the event:"
    )
    lines.append("")
    lines.append("| Watchers on | Watchers | Events delivered | Expected | p50 ms | p99 ms | max ms |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    let labels = ["Replica A (the writer's)", "Replica B"]
    for (replica, latencies) in fan.latencies.enumerated() {
      lines.append(
        fanRow(
          replica < labels.count ? labels[replica] : "Replica \(replica)",
          watchers: fan.watchers[replica],
          events: fan.events,
          latencies
        )
      )
    }
    lines.append(fanRow("All", watchers: total, events: fan.events, fan.latencies.flatMap { $0 }.sorted()))
    lines.append("")
    var summary =
      "Until all \(total) watchers had an event: p50 \(format(percentile(fan.completion, 0.5), digits: 3)) ms, "
      + "p99 \(format(percentile(fan.completion, 0.99), digits: 3)) ms, max \(format(percentile(fan.completion, 1), digits: 3)) ms "
      + "(\(fan.completion.count) of \(fan.events) events reached every watcher). "
      + "The Register calls themselves: p50 \(format(percentile(fan.registerLatencies, 0.5), digits: 3)) ms, "
      + "p99 \(format(percentile(fan.registerLatencies, 0.99), digits: 3)) ms. "
      + "Deliveries: \(fan.delivered) of \(fan.expected) expected"
    summary += fan.delivered == fan.expected ? "." : " — NOT ALL EVENTS WERE DELIVERED."
    if fan.unexpectedEvents > 0 { summary += " Unexpected events: \(fan.unexpectedEvents)." }
    if !fan.watcherErrors.isEmpty {
      summary += " Watcher errors (\(fan.watcherErrors.count)): " + fan.watcherErrors.prefix(3).joined(separator: "; ")
    }
    lines.append(summary)
    lines.append("")
  }
  return lines.joined(separator: "\n")
}

private func cpu(_ row: ScenarioResult, _ time: Duration?) -> String {
  time == nil ? "-" : format(row.microsecondsPerCall(time), digits: 0)
}

private func fanRow(_ label: String, watchers: Int, events: Int, _ latencies: [Int64]) -> String {
  "| \(label) | \(watchers) | \(latencies.count) | \(watchers * events) "
    + "| \(format(percentile(latencies, 0.5), digits: 3)) | \(format(percentile(latencies, 0.99), digits: 3)) "
    + "| \(format(percentile(latencies, 1), digits: 3)) |"
}
