/// The documented limits on what a registry accepts (docs/registry.md, "Input rules").
///
/// They keep a single registration small enough that a watch event, a database row and a log
/// line stay cheap, and they are generous enough for every upstream NSM deployment seen.
public enum Limits {
  /// A whole name including its `@domain` part, in UTF-8 bytes (a DNS name's maximum).
  public static let maxNameBytes = 253
  /// A label key, in UTF-8 bytes.
  public static let maxLabelKeyBytes = 253
  /// A label value, in UTF-8 bytes. Larger than Kubernetes' 63 so that templates such as
  /// `{{ .nodeName }}` and opaque identifiers fit.
  public static let maxLabelValueBytes = 1024
  /// Labels in one map (a selector, or one service's labels).
  public static let maxLabels = 64
  /// Entries in any list field (matches, routes, service names, path ids).
  public static let maxListEntries = 256
  /// An NSE URL, in UTF-8 bytes.
  public static let maxURLBytes = 2048
  /// One Network Service or Endpoint as encoded on the wire.
  public static let maxRecordBytes = 64 * 1024
}
