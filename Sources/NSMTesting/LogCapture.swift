public import Logging
internal import Synchronization

/// A log handler that keeps what it is given, for tests that check what an operator would read.
public final class LogCapture: Sendable {
  public struct Entry: Sendable {
    public var level: Logger.Level
    public var message: String
    public var metadata: [String: String]
  }

  private let entries = Mutex<[Entry]>([])

  public init() {}

  public var logged: [Entry] { entries.withLock { $0 } }

  /// A logger whose entries at `level` and above land here.
  public func logger(label: String = "capture", level: Logger.Level = .debug) -> Logger {
    var logger = Logger(label: label) { _ in Handler(capture: self) }
    logger.logLevel = level
    return logger
  }

  fileprivate func append(_ entry: Entry) {
    entries.withLock { $0.append(entry) }
  }

  private struct Handler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      let all = metadata.merging(event.metadata ?? [:]) { $1 }
      capture.append(Entry(level: event.level, message: "\(event.message)", metadata: all.mapValues { "\($0)" }))
    }
  }
}
