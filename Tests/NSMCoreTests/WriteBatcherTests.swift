import NSMCore
import Synchronization
import Testing

@Suite("Write batcher")
struct WriteBatcherTests {
  /// Holds batches until the test opens it.
  final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
      await withCheckedContinuation { continuation in
        let open = state.withLock { state in
          if !state.open { state.waiting.append(continuation) }
          return state.open
        }
        if open { continuation.resume() }
      }
    }

    func open() {
      let waiting = state.withLock { state in
        state.open = true
        defer { state.waiting = [] }
        return state.waiting
      }
      for continuation in waiting { continuation.resume() }
    }
  }

  /// A batcher over integers whose batches are recorded, each answered with ten times its
  /// writes (a negative write fails); batch `n` (from 0) waits for `gates[n]` if there is one.
  final class Recorder: Sendable {
    let batches = Mutex<[[Int]]>([])
    let cancelledInRun = Atomic<Bool>(false)
    let gates: [Gate]

    init(gates: Int) {
      self.gates = (0..<gates).map { _ in Gate() }
    }

    func batcher(limit: Int = 1, maxBatch: Int = 100) -> WriteBatcher<Int, Int> {
      WriteBatcher(limit: limit, maxBatch: maxBatch) { writes in
        let index = self.batches.withLock { batches in
          batches.append(writes)
          return batches.count - 1
        }
        if index < self.gates.count { await self.gates[index].wait() }
        if Task.isCancelled { self.cancelledInRun.store(true, ordering: .relaxed) }
        return writes.map { $0 < 0 ? .failure(Refused(write: $0)) : .success($0 * 10) }
      }
    }

    var recorded: [[Int]] { batches.withLock { $0 } }
  }

  struct Refused: Error, Equatable {
    let write: Int
  }

  static func eventually(_ condition: () -> Bool) async throws {
    for _ in 0..<1000 where !condition() {
      try await Task.sleep(for: .milliseconds(5))
    }
    #expect(condition())
  }

  @Test func aWriteAloneGoesAtOnceInABatchOfItsOwn() async throws {
    let recorder = Recorder(gates: 0)
    let batcher = recorder.batcher(limit: 2)
    #expect(try await batcher.submit(4, key: "a") == 40)
    #expect(try await batcher.submit(5, key: "b") == 50)
    #expect(recorder.recorded == [[4], [5]])
  }

  @Test func writesArrivingDuringABatchGoTogetherInTheNextInTheirOrder() async throws {
    let recorder = Recorder(gates: 1)
    let batcher = recorder.batcher()
    let first = Task { try await batcher.submit(0, key: "k0") }
    try await Self.eventually { recorder.recorded.count == 1 }
    var later: [Task<Int, any Error>] = []
    for write in 1...9 {
      later.append(Task { try await batcher.submit(write, key: "k\(write)") })
      try await Self.eventually { batcher.waitingCount == write }
    }
    recorder.gates[0].open()
    #expect(try await first.value == 0)
    for (index, task) in later.enumerated() { #expect(try await task.value == (index + 1) * 10) }
    #expect(recorder.recorded == [[0], Array(1...9)])
  }

  @Test func twoWritesOfOneKeyNeverShareABatch() async throws {
    let recorder = Recorder(gates: 1)
    let batcher = recorder.batcher()
    let first = Task { try await batcher.submit(0, key: "x") }
    try await Self.eventually { recorder.recorded.count == 1 }
    let writes = [(1, "a"), (2, "a"), (3, "b")]
    var tasks: [Task<Int, any Error>] = []
    for (index, (write, key)) in writes.enumerated() {
      tasks.append(Task { try await batcher.submit(write, key: key) })
      try await Self.eventually { batcher.waitingCount == index + 1 }
    }
    recorder.gates[0].open()
    _ = try await first.value
    for task in tasks { _ = try await task.value }
    #expect(recorder.recorded == [[0], [1, 3], [2]])
  }

  @Test func aBatchHoldsAtMostMaxBatchWrites() async throws {
    let recorder = Recorder(gates: 1)
    let batcher = recorder.batcher(maxBatch: 3)
    let first = Task { try await batcher.submit(0, key: "k0") }
    try await Self.eventually { recorder.recorded.count == 1 }
    var tasks: [Task<Int, any Error>] = []
    for write in 1...7 {
      tasks.append(Task { try await batcher.submit(write, key: "k\(write)") })
      try await Self.eventually { batcher.waitingCount == write }
    }
    recorder.gates[0].open()
    _ = try await first.value
    for task in tasks { _ = try await task.value }
    #expect(recorder.recorded == [[0], [1, 2, 3], [4, 5, 6], [7]])
  }

  @Test func eachWriteGetsItsOwnResult() async throws {
    let recorder = Recorder(gates: 1)
    let batcher = recorder.batcher()
    let first = Task { try await batcher.submit(0, key: "k0") }
    try await Self.eventually { recorder.recorded.count == 1 }
    let failing = Task { try await batcher.submit(-1, key: "bad") }
    try await Self.eventually { batcher.waitingCount == 1 }
    let good = Task { try await batcher.submit(2, key: "good") }
    try await Self.eventually { batcher.waitingCount == 2 }
    recorder.gates[0].open()
    _ = try await first.value
    await #expect(throws: Refused(write: -1)) { try await failing.value }
    #expect(try await good.value == 20)
    #expect(recorder.recorded == [[0], [-1, 2]])
  }

  @Test func aWaitingWriteThatIsCancelledLeavesAndIsNeverWritten() async throws {
    let recorder = Recorder(gates: 1)
    let batcher = recorder.batcher()
    let first = Task { try await batcher.submit(0, key: "k0") }
    try await Self.eventually { recorder.recorded.count == 1 }
    let cancelled = Task { try await batcher.submit(1, key: "k1") }
    try await Self.eventually { batcher.waitingCount == 1 }
    let kept = Task { try await batcher.submit(2, key: "k2") }
    try await Self.eventually { batcher.waitingCount == 2 }
    cancelled.cancel()
    await #expect(throws: CancellationError.self) { try await cancelled.value }
    #expect(batcher.waitingCount == 1)
    recorder.gates[0].open()
    _ = try await first.value
    #expect(try await kept.value == 20)
    #expect(recorder.recorded == [[0], [2]])
  }

  @Test func aLeaderCancelledMidBatchStillAnswersTheWritesItCarries() async throws {
    let recorder = Recorder(gates: 2)
    let batcher = recorder.batcher()
    let first = Task { try await batcher.submit(0, key: "k0") }
    try await Self.eventually { recorder.recorded.count == 1 }
    let leader = Task { try await batcher.submit(1, key: "k1") }
    try await Self.eventually { batcher.waitingCount == 1 }
    let follower = Task { try await batcher.submit(2, key: "k2") }
    try await Self.eventually { batcher.waitingCount == 2 }
    recorder.gates[0].open()
    try await Self.eventually { recorder.recorded.count == 2 }
    leader.cancel()
    recorder.gates[1].open()
    #expect(try await follower.value == 20)
    #expect(try await leader.value == 10, "the batch was written: its leader is told so")
    let sawCancellation = recorder.cancelledInRun.load(ordering: .relaxed)
    #expect(!sawCancellation, "a batch does not see its leader's cancellation")
    _ = try await first.value
    #expect(recorder.recorded == [[0], [1, 2]])
  }

  @Test func withTwoSlotsTwoBatchesRunAtOnce() async throws {
    let recorder = Recorder(gates: 2)
    let batcher = recorder.batcher(limit: 2)
    let first = Task { try await batcher.submit(0, key: "k0") }
    let second = Task { try await batcher.submit(1, key: "k1") }
    try await Self.eventually { recorder.recorded.count == 2 }
    #expect(batcher.waitingCount == 0)
    let third = Task { try await batcher.submit(2, key: "k2") }
    try await Self.eventually { batcher.waitingCount == 1 }
    recorder.gates[0].open()
    recorder.gates[1].open()
    for task in [first, second, third] { _ = try await task.value }
    #expect(Set(recorder.recorded) == [[0], [1], [2]])
  }
}
