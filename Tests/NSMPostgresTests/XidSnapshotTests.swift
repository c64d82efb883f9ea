import Testing

@testable import NSMPostgres

/// The watch joins its initial state to the change feed by the snapshot's view of writers.
@Suite("PostgreSQL snapshot visibility")
struct XidSnapshotTests {
  @Test func parsesPostgresTextAndTellsWhichWritersItShows() throws {
    let snapshot = try #require(XidSnapshot("100:110:102,105"))
    #expect(snapshot == XidSnapshot(xmin: 100, xmax: 110, running: [102, 105]))
    // Finished before the snapshot: shown.
    #expect(snapshot.shows(99) && snapshot.shows(100) && snapshot.shows(109))
    // Running then, or started after: not shown, whenever they commit.
    #expect(!snapshot.shows(102) && !snapshot.shows(105) && !snapshot.shows(110) && !snapshot.shows(200))
    #expect(XidSnapshot("7:7:") == XidSnapshot(xmin: 7, xmax: 7, running: []))
  }

  @Test func refusesWhatIsNotASnapshot() {
    for text in ["", "1:2", "a:b:", "5:3:", "1:5:7", "1:5:0", "1:5:2,x", "1:2:3:4"] {
      #expect(XidSnapshot(text) == nil, "\(text)")
    }
  }
}
