/// A PostgreSQL snapshot (`pg_current_snapshot()`), as far as the change feed needs it: which
/// writers' changes it shows.
///
/// Writers commit in any order, so "changes up to number N" does not describe what a snapshot
/// holds; the set of transactions it sees does. A watch takes its initial state in one snapshot
/// and is then sent exactly the changes of the transactions that snapshot does not show.
struct XidSnapshot: Sendable, Equatable {
  /// Every transaction below this one had finished when the snapshot was taken.
  let xmin: Int64
  /// No transaction at or above this one had finished.
  let xmax: Int64
  /// Transactions between the two that were still running.
  let running: Set<Int64>

  init(xmin: Int64, xmax: Int64, running: Set<Int64>) {
    self.xmin = xmin
    self.xmax = xmax
    self.running = running
  }

  /// Parses PostgreSQL's text form, `xmin:xmax:xip,xip,...` (the list may be empty).
  init?(_ text: String) {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 3, let xmin = Int64(parts[0]), let xmax = Int64(parts[1]), xmin <= xmax else {
      return nil
    }
    var running = Set<Int64>()
    for item in parts[2].split(separator: ",") {
      guard let xid = Int64(item), xid >= xmin, xid < xmax else { return nil }
      running.insert(xid)
    }
    self.init(xmin: xmin, xmax: xmax, running: running)
  }

  /// Whether the snapshot shows what the committed transaction `xid` wrote.
  func shows(_ xid: Int64) -> Bool {
    xid < xmin || (xid < xmax && !running.contains(xid))
  }
}
