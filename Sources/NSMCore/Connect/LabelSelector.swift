/// Upstream's `IsSubset(have, selector, vars)` (reference §3.3): whether every key of
/// `selector` has its value in `have`, where a selector value may be a template rendered with
/// the request's labels, and an empty selector value matches a missing key.
public enum LabelSelector {
  public static func matches(
    _ have: [String: String],
    selector: [String: String],
    requestLabels: [String: String]
  ) -> Bool {
    // Upstream counts before it compares: a selector with more keys than the labels never
    // matches, even when its extra values are empty. Kept for identical selection.
    if have.count < selector.count { return false }
    for (key, wanted) in selector {
      let value = have[key] ?? ""
      if value == wanted { continue }
      guard let rendered = LabelTemplate.render(wanted, labels: requestLabels), rendered == value else {
        return false
      }
    }
    return true
  }
}
