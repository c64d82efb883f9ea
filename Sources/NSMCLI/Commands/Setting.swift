internal import ArgumentParser
internal import Foundation
internal import Logging
internal import NSMCore

/// A flag's value, else its environment variable's, else nil: every flag of `nsm` has an
/// environment fallback named as upstream NSM names it.
func setting(_ flag: String?, env name: String) -> String? {
  if let flag { return flag }
  guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
  return value
}

/// A repeatable flag's values, else its environment variable split at commas.
func settingList(_ values: [String], env name: String) -> [String] {
  if !values.isEmpty { return values }
  guard let text = setting(nil, env: name) else { return [] }
  return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// Turns a configuration problem into ArgumentParser's usage error, naming the flag and variable.
func parseSetting<T>(_ text: String, flag: String, env: String, _ parse: (String) throws -> T) throws -> T {
  do {
    return try parse(text)
  } catch let error as NSMError {
    throw ValidationError("--\(flag) / \(env): \(error.message)")
  }
}

/// Upstream's level names (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) and swift-log's.
func parseLogLevel(_ text: String) throws(NSMError) -> Logger.Level {
  switch text.lowercased() {
  case "trace": .trace
  case "debug": .debug
  case "info": .info
  case "notice": .notice
  case "warn", "warning": .warning
  case "error": .error
  case "fatal", "panic", "critical": .critical
  default: throw .invalidArgument("unknown log level '\(text)' (trace, debug, info, warn, error, fatal)")
  }
}

/// Writes to standard error.
func printError(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Writes to standard output at once, so a watching reader sees each event as it happens.
func emit(_ text: String) {
  FileHandle.standardOutput.write(Data(text.utf8))
}
