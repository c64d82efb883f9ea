internal import Foundation
internal import NSMCore
internal import Synchronization

#if canImport(Glibc)
  internal import Glibc
#endif

/// An IPv4 UDP socket made inside a network namespace of the test's, for sending crafted
/// packets and receiving what arrives. The socket is made on a thread of its own that enters
/// the namespace (`setns` changes only the calling thread) and then ends; the socket stays in
/// that namespace whichever thread uses it.
public final class NamespaceUDP: Sendable {
  private let descriptor: Int32

  /// A socket in the namespace at `path` (`/run/netns/NAME`), bound to `address`:`port` (0: any).
  public init(namespace path: String, bindTo address: String, port: UInt16 = 0) throws {
    let made = Made()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      made.result.withLock { $0 = Self.make(in: path, address: address, port: port) }
      done.signal()
    }
    thread.start()
    done.wait()
    descriptor = try made.result.withLock { $0! }.get()
  }

  deinit { close(descriptor) }

  private final class Made: Sendable {
    let result = Mutex<Result<Int32, NSMError>?>(nil)
  }

  private static func make(in path: String, address: String, port: UInt16) -> Result<Int32, NSMError> {
    if let failure = enter(path) { return .failure(failure) }
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { return .failure(NSMError(.internal, "socket: errno \(errno)")) }
    var local = sockaddr_in.make(address, port)
    let bound = withUnsafePointer(to: &local) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else {
      close(fd)
      return .failure(NSMError(.internal, "bind \(address):\(port) in \(path): errno \(errno)"))
    }
    return .success(fd)
  }

  /// Sends `bytes` to `address`:`port`.
  public func send(_ bytes: [UInt8], to address: String, port: UInt16) throws {
    var remote = sockaddr_in.make(address, port)
    let sent = bytes.withUnsafeBytes { buffer in
      withUnsafePointer(to: &remote) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          sendto(descriptor, buffer.baseAddress, buffer.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
    }
    guard sent == bytes.count else { throw NSMError(.internal, "sendto \(address):\(port): errno \(errno)") }
  }

  /// Every datagram that arrives until none has for `quiet`; waits on a thread of its own.
  public func receiveAll(quiet: Duration = .milliseconds(500)) async -> [[UInt8]] {
    await withCheckedContinuation { continuation in
      Thread { continuation.resume(returning: self.receiveBlocking(quiet: quiet)) }.start()
    }
  }

  private func receiveBlocking(quiet: Duration) -> [[UInt8]] {
    var timeout = timeval(
      tv_sec: Int(quiet.components.seconds),
      tv_usec: Int(quiet.components.attoseconds / 1_000_000_000_000)
    )
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var received: [[UInt8]] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = recv(descriptor, &buffer, buffer.count, 0)
      guard count > 0 else { return received }
      received.append(Array(buffer[..<count]))
    }
  }
}

// glibc declares setns(2) only with _GNU_SOURCE, which Swift's Glibc module does not set.
@_silgen_name("setns") private func enterNamespace(_ fd: Int32, _ type: Int32) -> Int32
private let cloneNewNet: Int32 = 0x4000_0000

/// Moves the calling thread (one of the test's own, never a pool thread) into the namespace at
/// `path`; nil when it did.
private func enter(_ path: String) -> NSMError? {
  let namespace = open(path, O_RDONLY | O_CLOEXEC)
  guard namespace >= 0 else { return NSMError(.internal, "open \(path): errno \(errno)") }
  defer { close(namespace) }
  guard enterNamespace(namespace, cloneNewNet) == 0 else { return NSMError(.internal, "setns \(path): errno \(errno)") }
  return nil
}

/// Runs `body` on a thread of its own that first enters the namespace at `path`.
private func onThread<T: Sendable>(in path: String, _ body: @escaping @Sendable () -> Result<T, NSMError>) async throws
  -> T
{
  try await withCheckedThrowingContinuation { continuation in
    Thread {
      if let failure = enter(path) { return continuation.resume(throwing: failure) }
      continuation.resume(with: body())
    }.start()
  }
}

/// A TCP stream between two namespaces of the test's, with plain sockets (each side on a thread
/// that entered its namespace): what a workload's TCP does through a vWire, with the bytes
/// counted and checked exactly at the receiving end.
public enum NamespaceTCP {
  /// Sends `count` bytes (a repeating pattern) from the namespace at `clientPath` to
  /// `address`:`port`, where a listener in the namespace at `serverPath` receives them; the
  /// bytes received and whether every one was the one sent.
  public static func stream(
    from clientPath: String,
    to serverPath: String,
    address: String,
    port: UInt16 = 7778,
    count: Int
  ) async throws -> (received: Int, intact: Bool) {
    let listening = Listening()
    async let received = onThread(in: serverPath) { () -> Result<(Int, Bool), NSMError> in
      let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      defer { close(server) }
      var yes: Int32 = 1
      setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
      var timeout = timeval(tv_sec: 10, tv_usec: 0)
      setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      var local = sockaddr_in.make(address, port)
      let bound = withUnsafePointer(to: &local) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          bind(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      guard bound == 0, listen(server, 1) == 0 else {
        listening.done.signal()
        return .failure(NSMError(.internal, "listen on \(address):\(port): errno \(errno)"))
      }
      listening.done.signal()
      let connection = accept(server, nil, nil)
      guard connection >= 0 else { return .failure(NSMError(.internal, "accept: errno \(errno)")) }
      defer { close(connection) }
      setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      var total = 0
      var intact = true
      var buffer = [UInt8](repeating: 0, count: 65536)
      while true {
        let read = recv(connection, &buffer, buffer.count, 0)
        guard read > 0 else { break }
        for index in 0..<read where buffer[index] != UInt8((total + index) % 251) { intact = false }
        total += read
      }
      return .success((total, intact))
    }
    // The listener first, then the sender.
    await withCheckedContinuation { continuation in
      Thread {
        listening.done.wait()
        continuation.resume()
      }.start()
    }
    let sent = try await onThread(in: clientPath) { () -> Result<Int, NSMError> in
      let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      defer { close(client) }
      var remote = sockaddr_in.make(address, port)
      let connected = withUnsafePointer(to: &remote) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      guard connected == 0 else { return .failure(NSMError(.internal, "connect \(address):\(port): errno \(errno)")) }
      let pattern = (0..<count).map { UInt8($0 % 251) }
      var offset = 0
      while offset < count {
        let written = pattern[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
        guard written > 0 else { return .failure(NSMError(.internal, "send: errno \(errno)")) }
        offset += written
      }
      return .success(offset)
    }
    let (total, intact) = try await received
    guard sent == count else { throw NSMError(.internal, "sent \(sent) of \(count) bytes") }
    return (total, intact)
  }

  private final class Listening: Sendable {
    let done = DispatchSemaphore(value: 0)
  }
}

extension sockaddr_in {
  static func make(_ address: String, _ port: UInt16) -> sockaddr_in {
    var value = sockaddr_in()
    value.sin_family = sa_family_t(AF_INET)
    value.sin_port = port.bigEndian
    inet_pton(AF_INET, address, &value.sin_addr)
    return value
  }
}

/// A VXLAN packet (RFC 7348) carrying an Ethernet frame with an IPv4 UDP datagram, as a host
/// that wants to inject into a vWire would craft it.
public enum CraftedVXLAN {
  public static func packet(
    vni: UInt32,
    destinationMAC: [UInt8],
    sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01],
    from source: String,
    to destination: String,
    port: UInt16,
    payload: [UInt8]
  ) -> [UInt8] {
    let vxlan: [UInt8] = [0x08, 0, 0, 0, UInt8(vni >> 16 & 0xff), UInt8(vni >> 8 & 0xff), UInt8(vni & 0xff), 0]
    let ethernet = destinationMAC + sourceMAC + [0x08, 0x00]
    let udpLength = 8 + payload.count
    // The UDP checksum is optional over IPv4 (0: none).
    let udp = bytes(UInt16(40000)) + bytes(port) + bytes(UInt16(udpLength)) + [0, 0] + payload
    var ip: [UInt8] = [0x45, 0] + bytes(UInt16(20 + udpLength)) + [0, 1, 0x40, 0, 64, 17, 0, 0]
    ip += address(source) + address(destination)
    let checksum = internetChecksum(ip)
    ip[10] = UInt8(checksum >> 8)
    ip[11] = UInt8(checksum & 0xff)
    return vxlan + ethernet + ip + udp
  }

  /// `aa:bb:cc:dd:ee:ff` as bytes.
  public static func mac(_ text: String) -> [UInt8] {
    text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap { UInt8($0, radix: 16) }
  }

  static func bytes(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }

  static func address(_ text: String) -> [UInt8] {
    var value = in_addr()
    inet_pton(AF_INET, text, &value)
    return withUnsafeBytes(of: value.s_addr) { Array($0) }
  }

  static func internetChecksum(_ header: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    for index in stride(from: 0, to: header.count, by: 2) {
      sum += UInt32(header[index]) << 8 | UInt32(header[index + 1])
    }
    while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
    return ~UInt16(sum)
  }
}
