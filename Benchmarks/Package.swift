// swift-tools-version:6.1
import PackageDescription

// A separate package so that benchmarking never touches the main package's build folder or
// dependency graph: it depends on swift-nsm by path, with the same dependency versions.
let strictSettings: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "swift-nsm-benchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(name: "swift-nsm", path: ".."),
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
  ],
  targets: [
    // What both benchmarks share: the closed-loop driver, CPU sampling, client setup, formatting.
    .target(
      name: "BenchSupport",
      dependencies: [
        .product(name: "NSMRegistry", package: "swift-nsm"),
        .product(name: "NSMStore", package: "swift-nsm"),
        .product(name: "NSMTransport", package: "swift-nsm"),
        .product(name: "NSMAPIGRPC", package: "swift-nsm"),
        .product(name: "NSMCore", package: "swift-nsm"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "registry-bench",
      dependencies: [
        "BenchSupport",
        .product(name: "NSMTesting", package: "swift-nsm"),
        .product(name: "NSMRegistry", package: "swift-nsm"),
        .product(name: "NSMStore", package: "swift-nsm"),
        .product(name: "NSMTransport", package: "swift-nsm"),
        .product(name: "NSMAPIGRPC", package: "swift-nsm"),
        .product(name: "NSMAPI", package: "swift-nsm"),
        .product(name: "NSMCore", package: "swift-nsm"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "call-bench",
      dependencies: [
        "BenchSupport",
        .product(name: "NSMTesting", package: "swift-nsm"),
        .product(name: "NSMTransport", package: "swift-nsm"),
        .product(name: "NSMRegistry", package: "swift-nsm"),
        .product(name: "NSMAPI", package: "swift-nsm"),
        .product(name: "NSMCore", package: "swift-nsm"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "connect-bench",
      dependencies: [
        "BenchSupport",
        .product(name: "NSMTesting", package: "swift-nsm"),
        .product(name: "NSMConnect", package: "swift-nsm"),
        .product(name: "NSMRegistry", package: "swift-nsm"),
        .product(name: "NSMTransport", package: "swift-nsm"),
        .product(name: "NSMAPIGRPC", package: "swift-nsm"),
        .product(name: "NSMAPI", package: "swift-nsm"),
        .product(name: "NSMCore", package: "swift-nsm"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "postgres-bench",
      dependencies: [
        "BenchSupport",
        .product(name: "NSMTesting", package: "swift-nsm"),
        .product(name: "NSMRegistry", package: "swift-nsm"),
        .product(name: "NSMStore", package: "swift-nsm"),
        .product(name: "NSMTransport", package: "swift-nsm"),
        .product(name: "NSMAPIGRPC", package: "swift-nsm"),
        .product(name: "NSMPostgres", package: "swift-nsm"),
        .product(name: "NSMAPI", package: "swift-nsm"),
        .product(name: "NSMCore", package: "swift-nsm"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
      ],
      swiftSettings: strictSettings
    ),
  ]
)
