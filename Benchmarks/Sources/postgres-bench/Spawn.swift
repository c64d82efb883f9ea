import BenchSupport
import Foundation

/// Runs `path` with `arguments` to completion, standard output and error into `outputPath`,
/// and returns its exit status and the CPU time it used; killed (and an error thrown) after
/// `limit`.
///
/// Not `Foundation.Process`: that starts the child from a thread with most signals blocked, and
/// the child keeps that mask. pgbench ends a `-T` run on SIGALRM, so it would never end. Here
/// the child starts with an empty signal mask and default dispositions.
func spawnAndWait(
  _ path: String,
  _ arguments: [String],
  environment: [String: String],
  outputPath: String,
  limit: Duration
) async throws -> (status: Int32, cpu: Duration) {
  var fileActions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&fileActions)
  defer { posix_spawn_file_actions_destroy(&fileActions) }
  posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
  posix_spawn_file_actions_addopen(&fileActions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  posix_spawn_file_actions_adddup2(&fileActions, 1, 2)

  var attributes = posix_spawnattr_t()
  posix_spawnattr_init(&attributes)
  defer { posix_spawnattr_destroy(&attributes) }
  var mask = sigset_t()
  sigemptyset(&mask)
  posix_spawnattr_setsigmask(&attributes, &mask)
  var defaults = sigset_t()
  sigemptyset(&defaults)
  for signal in [SIGALRM, SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] {
    sigaddset(&defaults, signal)
  }
  posix_spawnattr_setsigdefault(&attributes, &defaults)
  posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

  let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
  let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
  defer {
    for pointer in argv { free(pointer) }
    for pointer in envp { free(pointer) }
  }
  var pid: pid_t = 0
  let spawned = posix_spawn(&pid, path, &fileActions, &attributes, argv, envp)
  guard spawned == 0 else { throw BenchError("cannot start \(path): \(String(cString: strerror(spawned)))") }

  let clock = ContinuousClock()
  let deadline = clock.now + limit
  var status: Int32 = 0
  var usage = rusage()
  while true {
    let reaped = wait4(pid, &status, WNOHANG, &usage)
    if reaped == pid { break }
    if reaped < 0 { throw BenchError("waitpid for \(path) failed: \(String(cString: strerror(errno)))") }
    if clock.now > deadline {
      kill(pid, SIGKILL)
      _ = waitpid(pid, &status, 0)
      throw BenchError("\(path) did not finish within \(limit); killed")
    }
    try await Task.sleep(for: .milliseconds(20))
  }
  func duration(_ time: timeval) -> Duration { .seconds(Int64(time.tv_sec)) + .microseconds(Int64(time.tv_usec)) }
  // WIFEXITED / WEXITSTATUS; a signal death is reported as 128 + the signal.
  let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
  return (code, duration(usage.ru_utime) + duration(usage.ru_stime))
}

/// CPU time (user + system) of a process tree so far, from /proc: `root` itself, everything it
/// has reaped (its `cutime`/`cstime`: PostgreSQL backends that have exited), and its live
/// children with what they reaped. For the postmaster that is every server process, including
/// backends that came and went. 1/CLK_TCK (10 ms) resolution; nil if `root` is gone.
func processTreeCPU(root: pid_t) -> Duration? {
  guard let rootStat = procStat(root) else { return nil }
  var ticks = rootStat.ticks
  if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") {
    for entry in entries {
      guard let pid = pid_t(entry), pid != root, let stat = procStat(pid), stat.parent == root else { continue }
      ticks += stat.ticks
    }
  }
  let perSecond = Int64(sysconf(Int32(_SC_CLK_TCK)))
  guard perSecond > 0 else { return nil }
  return .milliseconds(ticks * 1000 / perSecond)
}

/// The parent and utime + stime + cutime + cstime (clock ticks) of `pid`, from /proc/PID/stat.
func procStat(_ pid: pid_t) -> (parent: pid_t, ticks: Int64)? {
  guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = text.lastIndex(of: ")")
  else { return nil }
  // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime ...
  let fields = text[text.index(after: close)...].split(separator: " ")
  guard fields.count > 14, let parent = pid_t(fields[1]) else { return nil }
  let ticks = fields[11...14].compactMap { Int64($0) }.reduce(0, +)
  return (parent, ticks)
}
