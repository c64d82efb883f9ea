// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "swift-nsm",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "nsm", targets: ["nsm"]),
    .library(name: "NSMAPI", targets: ["NSMAPI"]),
    .library(name: "NSMAPIGRPC", targets: ["NSMAPIGRPC"]),
    .library(name: "NSMCore", targets: ["NSMCore"]),
    .library(name: "NSMStore", targets: ["NSMStore"]),
    .library(name: "NSMTransport", targets: ["NSMTransport"]),
    .library(name: "NSMRegistry", targets: ["NSMRegistry"]),
    .library(name: "NSMConnect", targets: ["NSMConnect"]),
    .library(name: "NSMDataplane", targets: ["NSMDataplane"]),
    .library(name: "NSMRelay", targets: ["NSMRelay"]),
    .library(name: "NSMPostgres", targets: ["NSMPostgres"]),
    .library(name: "NSMDNS", targets: ["NSMDNS"]),
    .library(name: "NSMCLI", targets: ["NSMCLI"]),
    .library(name: "NSMTesting", targets: ["NSMTesting"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    // No default traits: avoids pulling full Foundation into SwiftProtobuf and keeps
    // `swift build` and `swift test` from rebuilding it alternately.
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
    .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
    .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
    .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
    .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
  ],
  targets: [
    // Generated (scripts/generate.sh): the messages, and the gRPC stubs in a module of their own
    // so that code needing only the messages links no gRPC.
    .target(
      name: "NSMAPI",
      dependencies: [
        .product(name: "SwiftProtobuf", package: "swift-protobuf")
      ]
    ),
    .target(
      name: "NSMAPIGRPC",
      dependencies: [
        "NSMAPI",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ]
    ),
    .target(
      name: "NSMCore",
      dependencies: [
        "NSMAPI",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMStore",
      dependencies: [
        "NSMAPI",
        "NSMCore",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "HeapModule", package: "swift-collections"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMSecurity",
      dependencies: [
        "NSMCore",
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "Yams", package: "Yams"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMTransport",
      dependencies: [
        "NSMCore",
        "NSMSecurity",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP2", package: "swift-nio-http2"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "SwiftASN1", package: "swift-asn1"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMRegistry",
      dependencies: [
        "NSMSecurity",
        "NSMStore",
        "NSMTransport",
        "NSMAPIGRPC",
        "NSMAPI",
        "NSMCore",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "HeapModule", package: "swift-collections"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMDataplane",
      dependencies: [
        "NSMCore",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMRelay",
      dependencies: [
        "NSMCore",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMConnect",
      dependencies: [
        "NSMDataplane",
        "NSMRelay",
        "NSMAPI",
        "NSMAPIGRPC",
        "NSMCore",
        "NSMSecurity",
        "NSMStore",
        "NSMTransport",
        "NSMRegistry",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "DequeModule", package: "swift-collections"),
        .product(name: "Yams", package: "Yams"),
      ],
      swiftSettings: strictSettings
    ),
    .systemLibrary(
      name: "CLDNS",
      pkgConfig: "ldns",
      providers: [.apt(["libldns-dev"])]
    ),
    .target(
      name: "NSMDNS",
      dependencies: [
        "CLDNS",
        "NSMCore",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMPostgres",
      dependencies: [
        "NSMAPI",
        "NSMCore",
        "NSMStore",
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "DequeModule", package: "swift-collections"),
      ],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMCLI",
      dependencies: [
        "NSMConnect",
        "NSMDataplane",
        "NSMAPIGRPC",
        "NSMSecurity",
        "NSMAPI",
        "NSMCore",
        "NSMStore",
        "NSMTransport",
        "NSMRegistry",
        "NSMPostgres",
        "NSMDNS",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Yams", package: "Yams"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "nsm",
      dependencies: ["NSMCLI"],
      swiftSettings: strictSettings
    ),
    .target(
      name: "NSMTesting",
      dependencies: [
        "NSMSecurity",
        "NSMAPI",
        "NSMCore",
        "NSMStore",
        "NSMTransport",
        "NSMRegistry",
        "NSMPostgres",
        "NSMDNS",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMCoreTests",
      dependencies: ["NSMCore", "NSMAPI", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMRegistryTests",
      dependencies: [
        "NSMRegistry", "NSMStore", "NSMTransport", "NSMCore", "NSMAPI", "NSMTesting",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMPostgresTests",
      dependencies: [
        "NSMPostgres", "NSMRegistry", "NSMStore", "NSMTransport", "NSMCore", "NSMAPI", "NSMTesting", "nsm",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMDNSTests",
      dependencies: ["NSMDNS", "NSMCore", "NSMTesting", "nsm"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMFederationTests",
      dependencies: [
        "NSMRegistry", "NSMDNS", "NSMCore", "NSMAPI", "NSMTesting",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMSecurityTests",
      dependencies: [
        "NSMSecurity", "NSMRegistry", "NSMStore", "NSMTransport", "NSMCore", "NSMAPI", "NSMTesting", "NSMPostgres",
        "NSMDNS",
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMTransportTests",
      dependencies: [
        "NSMTransport", "NSMRegistry", "NSMStore", "NSMCore", "NSMAPI", "NSMTesting",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMRelayTests",
      dependencies: [
        "NSMRelay",
        "NSMCore",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMConnectTests",
      dependencies: [
        "NSMConnect", "NSMDataplane", "NSMTransport", "NSMCore", "NSMAPI", "NSMAPIGRPC", "NSMTesting", "NSMSecurity",
        "nsm",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "NSMCLITests",
      dependencies: [
        "NSMCLI", "NSMRegistry", "NSMStore", "NSMTransport", "NSMCore", "NSMAPI", "NSMTesting", "nsm",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
      ],
      swiftSettings: strictSettings
    ),
  ]
)
