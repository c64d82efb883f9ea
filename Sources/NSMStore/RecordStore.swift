public import Foundation

/// Decides whether a caller may write a name, given who registered it first (nil when nobody
/// has). A store calls it atomically with the write it guards: under its lock, or in the
/// database transaction, so two first registrations by different identities cannot both pass.
/// It throws to refuse; the store then changes nothing.
public typealias RegistrantCheck = @Sendable (_ registrant: String?) throws -> Void

/// Where a registry keeps one kind of record. The in-memory store is the embedded default;
/// every store passes the same contract suite.
public protocol RecordStore<Record>: Sendable {
  associatedtype Record: RegistryRecord

  /// Inserts or replaces the record with this name (keeping what ``RegistryRecord/carryingOver(from:)``
  /// keeps, and the first registrant) and returns what is now stored. Watchers see an update.
  /// `admit`, when given, runs first with the name's registrant and may refuse the write.
  func register(_ record: Record, admit: RegistrantCheck?) async throws -> Record

  /// Removes the record with this name and returns it; nil when there was none. Watchers see a
  /// delete. `admit`, when given, runs first with the name's registrant and may refuse.
  func unregister(name: String, admit: RegistrantCheck?) async throws -> Record?

  /// The records that match the query template, sorted by name in byte (code point) order.
  func find(_ query: Record) async throws -> [Record]

  /// Opens a watch; `bufferSize` bounds the events waiting for a slow consumer.
  func watch(_ query: Record, bufferSize: Int) async throws -> RecordWatch<Record>

  /// The identity that first registered `name` (``RegistryRecord/registrant``), kept across
  /// refreshes and, in a durable store, across restarts; nil when the name is not registered.
  func registrant(of name: String) async throws -> String?

  /// Removes every record whose expiration is at or before `now` and returns them.
  /// Watchers see a delete for each.
  func removeExpired(now: Date) async throws -> [Record]
}

extension RecordStore {
  /// Registers without a registrant check.
  public func register(_ record: Record) async throws -> Record {
    try await register(record, admit: nil)
  }

  /// Unregisters without a registrant check.
  public func unregister(name: String) async throws -> Record? {
    try await unregister(name: name, admit: nil)
  }
}
