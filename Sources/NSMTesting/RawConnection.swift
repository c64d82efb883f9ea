internal import Dispatch
internal import Foundation

/// A bare TCP connection to a server, for tests that behave as no gRPC client would: connect
/// and stay mute, send half a handshake, hold connections open.
public final class RawConnection: Sendable {
  private let fd: Int32

  /// The client connection preface and an empty SETTINGS frame: a complete HTTP/2 handshake
  /// from the client's side (RFC 9113 §3.4).
  public static let http2Preface: [UInt8] =
    Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

  /// Connects to 127.0.0.1:`port`.
  public init(port: Int) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      let code = errno
      close(fd)
      throw POSIXError(POSIXErrorCode(rawValue: code) ?? .ECONNREFUSED)
    }
  }

  deinit { close(fd) }

  public func send(_ bytes: [UInt8]) throws {
    let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    guard sent == bytes.count else { throw POSIXError(.EPIPE) }
  }

  /// Whether the server closed the connection within `timeout` (whatever it sent before).
  public func closedByServer(within timeout: Duration) async -> Bool {
    let fd = self.fd
    // A thread of its own for the wait (runBlocking's reason).
    return await withCheckedContinuation { continuation in
      DispatchQueue(label: "nsm.test.raw-connection").async {
        let giveUp = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < giveUp {
          var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
          let left = giveUp - ContinuousClock.now
          let ready = poll(
            &poller,
            1,
            Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
          )
          if ready <= 0 { continue }
          let read = recv(fd, &buffer, buffer.count, 0)
          if read <= 0 {
            continuation.resume(returning: true)
            return
          }
        }
        continuation.resume(returning: false)
      }
    }
  }
}
