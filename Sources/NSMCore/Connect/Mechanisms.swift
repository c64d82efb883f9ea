public import NSMAPI

/// The mechanism names and parameter keys upstream puts on the wire (reference nsm-api §4).
public enum Mechanisms {
  public static let local = "LOCAL"
  public static let remote = "REMOTE"
  public static let kernel = "KERNEL"
  public static let vxlan = "VXLAN"

  public enum Key {
    public static let inodeURL = "inodeURL"
    public static let interfaceName = "name"
    public static let netnsInode = "netnsInode"
    public static let srcIP = "src_ip"
    public static let dstIP = "dst_ip"
    public static let srcPort = "src_port"
    public static let dstPort = "dst_port"
    public static let vni = "vni"
    public static let mtu = "MTU"
  }

  /// Linux's limit on an interface name (IFNAMSIZ − 1).
  public static let maxInterfaceName = 15

  public static func kernel(interface: String?, inodeURL: String?) -> Connection_Mechanism {
    var mechanism = Connection_Mechanism()
    mechanism.cls = local
    mechanism.type = kernel
    if let interface { mechanism.parameters[Key.interfaceName] = interface }
    if let inodeURL { mechanism.parameters[Key.inodeURL] = inodeURL }
    return mechanism
  }

  public static func vxlan(sourceIP: String) -> Connection_Mechanism {
    var mechanism = Connection_Mechanism()
    mechanism.cls = remote
    mechanism.type = vxlan
    mechanism.parameters[Key.srcIP] = sourceIP
    return mechanism
  }

  /// Checks what a mechanism carries before anything acts on it.
  public static func validate(_ mechanism: Connection_Mechanism) throws(NSMError) {
    switch mechanism.type {
    case kernel:
      if let name = mechanism.parameters[Key.interfaceName] {
        try validateInterfaceName(name)
      }
      if let url = mechanism.parameters[Key.inodeURL], !url.isEmpty,
        !(url.hasPrefix("file:///") || url.hasPrefix("inode://"))
      {
        throw .invalidArgument("KERNEL mechanism: inodeURL '\(url)' is neither file:///path nor inode://dev/ino")
      }
    case vxlan:
      for key in [Key.srcPort, Key.dstPort] {
        if let port = mechanism.parameters[key], UInt16(port) == nil {
          throw .invalidArgument("VXLAN mechanism: \(key) '\(port)' is not a port number")
        }
      }
      if let vni = mechanism.parameters[Key.vni], !(UInt32(vni).map { $0 > 0 && $0 < 1 << 24 } ?? false) {
        throw .invalidArgument("VXLAN mechanism: vni '\(vni)' is not a 24-bit number above 0")
      }
    default:
      throw .invalidArgument(
        "mechanism '\(mechanism.cls)/\(mechanism.type)' is not supported (KERNEL and VXLAN are)"
      )
    }
  }

  public static func validateInterfaceName(_ name: String) throws(NSMError) {
    if name.isEmpty || name.utf8.count > maxInterfaceName {
      throw .invalidArgument(
        "interface name '\(name)' must have 1 to \(maxInterfaceName) bytes (Linux's limit)"
      )
    }
    if name == "." || name == ".."
      || name.unicodeScalars.contains(where: { $0 == "/" || $0 == ":" || $0.properties.isWhitespace || $0.value < 0x21 }
      )
    {
      throw .invalidArgument("interface name '\(name)' holds a character Linux refuses (/, :, space)")
    }
  }
}
