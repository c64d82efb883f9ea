internal import Foundation
public import NSMCore

/// A network namespace as a KERNEL mechanism names it (`inodeURL`): `file:///proc/PID/ns/net`,
/// `file:///run/netns/NAME`, or any file bound to one. (`inode://dev/ino` needs the descriptor
/// passed over a unix socket, as upstream's clients do; not supported yet.)
public struct NetworkNamespace: Hashable, Sendable, CustomStringConvertible {
  public let path: String

  public init(path: String) {
    self.path = path
  }

  public init(inodeURL: String) throws(NSMError) {
    guard inodeURL.hasPrefix("file:///") else {
      throw .invalidArgument(
        "inodeURL '\(inodeURL)': only file:///path names a namespace this manager can enter"
      )
    }
    let path = String(inodeURL.dropFirst("file://".count))
    guard !path.contains("/../"), !path.hasSuffix("/..") else {
      throw .invalidArgument("inodeURL '\(inodeURL)' is not a plain path")
    }
    self.path = path
  }

  /// The namespace this process runs in.
  public static let current = NetworkNamespace(path: "/proc/self/ns/net")

  /// Whether it still exists (a workload that exited leaves its `/proc/PID` behind no more).
  public var exists: Bool { FileManager.default.fileExists(atPath: path) }

  public var description: String { path }
}
