internal import Foundation
internal import Logging
public import NSMAPI
internal import NSMCore
internal import Synchronization

/// Scale from zero (the seed; upstream's supplier): on a Request, start the endpoint this
/// request needs, with a command rendered from the request's labels (`{{ .nodeName }}` …),
/// and fail the Request with "endpoint created as …". The client retries, and once the new
/// endpoint registered, its match selects it.
public struct SupplierElement: ConnectElement {
  public let template: String
  private let spawned: Spawned

  public init(template: String) {
    self.template = template
    spawned = Spawned()
  }

  /// Commands running now that this supplier started.
  public var runningCount: Int { spawned.running }

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    let command = try Self.render(template, labels: request.connection.labels)
    let pid = try spawned.start(command, logger: context.logger)
    throw NSMError.unavailable(
      "cannot provide required networkservice: endpoint created as '\(command)' (pid \(pid)); retry to reach it"
    )
  }

  /// The template with each `{{ .label }}` replaced; a label the request lacks is an error
  /// here, not Go's `<no value>`, since the result is a command line.
  static func render(_ template: String, labels: [String: String]) throws(NSMError) -> String {
    guard let keys = LabelTemplate.keys(in: template) else { return template }
    let missing = keys.filter { labels[$0] == nil }
    if !missing.isEmpty {
      throw .invalidArgument(
        "the supplier's command needs the request labels \(missing.joined(separator: ", ")), which the request lacks"
      )
    }
    for key in keys {
      let value = labels[key] ?? ""
      if !value.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:@/".contains($0) }) {
        throw .invalidArgument("label \(key)='\(value)' holds characters a command line cannot take safely")
      }
    }
    return LabelTemplate.render(template, labels: labels) ?? template
  }
}

/// The commands a supplier started, so one that is still starting is not started twice.
final class Spawned: Sendable {
  private let processes = Mutex<[String: Process]>([:])

  var running: Int { processes.withLock { $0.values.filter(\.isRunning).count } }

  func start(_ command: String, logger: Logger) throws(NSMError) -> Int32 {
    if let existing = processes.withLock({ $0[command] }), existing.isRunning {
      return existing.processIdentifier
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "exec " + command]
    do {
      try process.run()
    } catch {
      throw NSMError(.internal, "the supplier could not start '\(command)': \(error)")
    }
    logger.info(
      "supplier started an endpoint",
      metadata: ["command": "\(command)", "pid": "\(process.processIdentifier)"]
    )
    processes.withLock { $0[command] = process }
    return process.processIdentifier
  }
}
