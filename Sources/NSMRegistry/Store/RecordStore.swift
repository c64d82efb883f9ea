public import Foundation

/// Where a registry keeps one kind of record. The in-memory store is the embedded default;
/// every store passes the same contract suite.
public protocol RecordStore<Record>: Sendable {
  associatedtype Record: RegistryRecord

  /// Inserts or replaces the record with this name (keeping what ``RegistryRecord/carryingOver(from:)``
  /// keeps) and returns what is now stored. Watchers see an update.
  func register(_ record: Record) async throws -> Record

  /// Removes the record with this name and returns it; nil when there was none.
  /// Watchers see a delete.
  func unregister(name: String) async throws -> Record?

  /// The records that match the query template.
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
