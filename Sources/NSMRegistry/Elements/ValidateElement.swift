internal import NSMCore
public import NSMStore

/// Rejects bad input with INVALID_ARGUMENT before anything downstream sees it.
public struct ValidateElement<Record: RegistryRecord>: RegistryElement {
  public init() {}

  public func register(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws -> Record {
    try Record.validateForRegister(record, now: context.now, encodedSize: context.requestBytes)
    var context = context
    context.requestBytes = nil
    return try await next.register(record, context: context)
  }

  public func find(
    _ request: FindRequest<Record>,
    context: RegistryContext,
    sink: @escaping FindSink<Record>,
    next: RegistryNext<Record>
  ) async throws {
    try Record.validateQuery(request.query, encodedSize: context.requestBytes)
    var context = context
    context.requestBytes = nil
    try await next.find(request, context: context, sink: sink)
  }

  public func unregister(_ record: Record, context: RegistryContext, next: RegistryNext<Record>) async throws {
    try NameRules.validate(record.name, field: RecordValidation.nameField(kind: Record.kind))
    try await next.unregister(record, context: context)
  }
}
