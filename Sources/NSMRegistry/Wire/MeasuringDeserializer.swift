internal import GRPCCore
internal import GRPCProtobuf
internal import SwiftProtobuf

/// A request message and the number of bytes it arrived in.
struct Measured<Message: SwiftProtobuf.Message & Sendable>: Sendable {
  var message: Message
  var bytes: Int
}

/// The protobuf deserializer that also keeps the request's size: the record limit is checked on
/// it (``RegistryContext/requestBytes``) instead of on the message encoded once more.
struct MeasuringDeserializer<Message: SwiftProtobuf.Message & Sendable>: MessageDeserializer {
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Measured<Message> {
    Measured(
      message: try ProtobufDeserializer<Message>().deserialize(serializedMessageBytes),
      bytes: serializedMessageBytes.count
    )
  }
}
