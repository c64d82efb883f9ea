internal import ArgumentParser
internal import Foundation
internal import GRPCCore
internal import NSMRegistry
internal import NSMTransport

/// `nsm apply -f FILE|-`: registers every NetworkService and NetworkServiceEndpoint document.
struct ApplyCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Register NetworkService / NetworkServiceEndpoint documents (YAML or JSON).",
    discussion: """
      Endpoints registered this way are leases like any other: they expire after the registry's \
      expire period unless applied again.
      """
  )

  @Option(name: .shortAndLong, help: "A file of one or more documents, or - for standard input. Repeatable.")
  var filename: [String]

  @OptionGroup var client: ClientOptions

  func validate() throws {
    if filename.isEmpty { throw ValidationError("give at least one -f FILE (or -f - for standard input)") }
  }

  func run() async throws {
    var loaded: [(source: String, resources: [Resource])] = []
    for file in filename {
      let text: String
      do {
        text =
          file == "-"
          ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
          : try String(contentsOfFile: file, encoding: .utf8)
      } catch {
        printError("error: cannot read \(file): \(error.localizedDescription)")
        throw ExitCode.failure
      }
      do {
        let result = try ResourceLoader.load(text, source: file == "-" ? "<stdin>" : file)
        result.warnings.forEach { printError("warning: \($0)") }
        loaded.append((file, result.resources))
      } catch let error as ResourceError {
        printError("error: \(error.message)")
        throw ExitCode.failure
      }
    }

    // Every document loaded: now register, going on past failures so one bad entry does not
    // hide the others, and exit non-zero if any failed.
    let failures = try await client.withClient { registry in
      var failures = 0
      for (_, resources) in loaded {
        for resource in resources {
          do {
            switch resource {
            case .networkService(let ns): _ = try await registry.register(ns)
            case .endpoint(let nse): _ = try await registry.register(nse)
            }
            emit("\(resource.kind.lowercased())/\(resource.name) applied\n")
          } catch let error as RPCError {
            printError("error: \(resource.kind.lowercased())/\(resource.name): \(describe(error))")
            failures += 1
          }
        }
      }
      return failures
    }
    if failures > 0 { throw ExitCode.failure }
  }
}
