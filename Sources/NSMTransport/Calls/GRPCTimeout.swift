public import GRPCCore

/// The `grpc-timeout` request header (gRPC over HTTP/2: up to 8 digits and a unit), read here
/// because grpc-swift keeps its own parser internal.
public enum GRPCTimeout {
  public static let key = "grpc-timeout"

  /// The timeout a call's metadata asks for; nil when it sets none (or one that does not parse,
  /// which the guarded transport has refused already).
  public static func timeout(in metadata: Metadata) -> Duration? {
    metadata[stringValues: key].first(where: { _ in true }).flatMap(parse)
  }

  public static func parse(_ text: String) -> Duration? {
    guard let unit = text.last, text.count >= 2, text.count <= 9 else { return nil }
    let digits = text.dropLast()
    guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits) else { return nil }
    switch unit {
    case "H": return .seconds(value * 3600)
    case "M": return .seconds(value * 60)
    case "S": return .seconds(value)
    case "m": return .milliseconds(value)
    case "u": return .microseconds(value)
    case "n": return .nanoseconds(value)
    default: return nil
    }
  }
}
