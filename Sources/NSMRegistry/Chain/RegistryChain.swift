public import NSMStore

/// The rest of a chain, as seen from one element. Past the last element, `register` returns
/// the record unchanged and the other verbs do nothing, as an empty upstream chain does.
public struct RegistryNext<Record: RegistryRecord>: Sendable {
  private let elements: [any RegistryElement<Record>]
  private let index: Int

  fileprivate init(elements: [any RegistryElement<Record>], index: Int) {
    self.elements = elements
    self.index = index
  }

  private var rest: RegistryNext<Record> { RegistryNext(elements: elements, index: index + 1) }

  public func register(_ record: Record, context: RegistryContext) async throws -> Record {
    guard index < elements.count else { return record }
    return try await elements[index].register(record, context: context, next: rest)
  }

  public func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>
  ) async throws {
    guard index < elements.count else { return }
    try await elements[index].find(request, context: context, sink: sink, next: rest)
  }

  public func unregister(_ record: Record, context: RegistryContext) async throws {
    guard index < elements.count else { return }
    try await elements[index].unregister(record, context: context, next: rest)
  }
}

/// An ordered list of elements; a call enters at the first.
public struct RegistryChain<Record: RegistryRecord>: Sendable {
  public let head: RegistryNext<Record>

  public init(_ elements: [any RegistryElement<Record>]) {
    head = RegistryNext(elements: elements, index: 0)
  }

  public func register(_ record: Record, context: RegistryContext) async throws -> Record {
    try await head.register(record, context: context)
  }

  public func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>
  ) async throws {
    try await head.find(request, context: context, sink: sink)
  }

  public func unregister(_ record: Record, context: RegistryContext) async throws {
    try await head.unregister(record, context: context)
  }
}
