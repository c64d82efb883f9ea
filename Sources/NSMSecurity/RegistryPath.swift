internal import Foundation
public import NSMCore

/// The path of a registry call, carried in gRPC metadata `path` as upstream's grpcmetadata does:
/// JSON `{"index": N, "path_segments": [{"token": "..."}, ...]}`. Segment i holds the token hop
/// i presented to hop i+1; `index` is the sender's own segment.
public struct RegistryPath: Sendable, Equatable {
  public static let metadataKey = "path"

  public var index: Int
  public var tokens: [String]

  public init(index: Int = 0, tokens: [String] = []) {
    self.index = index
    self.tokens = tokens
  }

  private struct Wire: Codable {
    struct Segment: Codable {
      var token: String?
      var name: String?
      var id: String?
    }
    var index: Int?
    var path_segments: [Segment]?
  }

  /// Parses the metadata value; INVALID_ARGUMENT when it is not the JSON above.
  public init(json text: String) throws(NSMError) {
    guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(text.utf8)) else {
      throw .invalidArgument("metadata 'path' is not a registry path (JSON with index and path_segments)")
    }
    index = wire.index ?? 0
    tokens = (wire.path_segments ?? []).map { $0.token ?? "" }
    guard index >= 0, index < max(tokens.count, 1), tokens.count <= Limits.maxListEntries else {
      throw .invalidArgument("metadata 'path' has index \(index) for \(tokens.count) segments")
    }
  }

  public var json: String {
    let wire = Wire(index: index, path_segments: tokens.map { Wire.Segment(token: $0) })
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return String(decoding: (try? encoder.encode(wire)) ?? Data("{}".utf8), as: UTF8.self)
  }
}
