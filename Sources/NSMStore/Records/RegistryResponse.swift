public import SwiftProtobuf

/// A Find response message: one record and whether it was deleted. The marker that ends a
/// watch's initial matches is a response without a record.
public protocol RegistryResponse<Record>: SwiftProtobuf.Message {
  associatedtype Record
  var record: Record { get set }
  var hasRecord: Bool { get }
  var deleted: Bool { get set }
}
