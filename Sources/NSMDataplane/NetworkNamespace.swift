internal import Foundation
public import NSMCore

#if canImport(Glibc)
  internal import Glibc
#endif

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

  /// Every network namespace of this host that a process is in or that is named under
  /// `/run/netns`, each once (by its inode).
  public static func all() -> [NetworkNamespace] {
    var paths: [String] = ["/proc/self/ns/net"]
    let files = FileManager.default
    for entry in (try? files.contentsOfDirectory(atPath: "/proc")) ?? [] where entry.allSatisfy(\.isNumber) {
      paths.append("/proc/\(entry)/ns/net")
    }
    for name in (try? files.contentsOfDirectory(atPath: "/run/netns")) ?? [] {
      paths.append("/run/netns/\(name)")
    }
    var seen: Set<UInt64> = []
    var namespaces: [NetworkNamespace] = []
    for path in paths {
      var info = stat()
      guard stat(path, &info) == 0, seen.insert(UInt64(info.st_ino)).inserted else { continue }
      namespaces.append(NetworkNamespace(path: path))
    }
    return namespaces
  }
}

/// A namespace held open by a descriptor of this process: entered through
/// `/proc/<our pid>/fd/<descriptor>`, it stays the namespace that was opened, and can be entered
/// after every process in it has gone, until this is released.
public final class HeldNamespace: Sendable {
  public let original: NetworkNamespace
  private let descriptor: Int32

  public init(_ namespace: NetworkNamespace) throws(NSMError) {
    original = namespace
    descriptor = open(namespace.path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw .invalidArgument("the namespace \(namespace) cannot be opened (errno \(errno))")
    }
  }

  deinit { close(descriptor) }

  /// The held namespace, by a path any child process of ours can enter too.
  public var namespace: NetworkNamespace {
    NetworkNamespace(path: "/proc/\(getpid())/fd/\(descriptor)")
  }
}

/// The process's limits a data plane outgrows.
public enum ProcessLimits {
  /// Raises the soft limit of open descriptors to the hard one: each vWire end holds its
  /// namespace open, and 1,024 (a common soft default) is a few hundred connections. Returns
  /// the limit now in force.
  @discardableResult
  public static func raiseOpenFiles() -> UInt64 {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
      limit.rlim_cur = limit.rlim_max
      _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
      _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return UInt64(limit.rlim_cur)
  }
}
