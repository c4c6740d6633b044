// swift-tools-version:6.1
import PackageDescription

// Micro benchmarks (ordo-one package-benchmark). Run from the repository root with `make bench`, or
// `swift package --package-path Benchmarks benchmark`. A separate package so that the main build does not
// pull in the benchmark harness.
let package = Package(
    name: "tributary-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "tributary", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // The load generator: workloads against any Kafka or MQTT broker (README, "Benchmarks"). Its measuring
        // core (schedule, histograms, accounting, reports) is the main package's BenchHarness, tested there.
        .executableTarget(
            name: "tributary-bench",
            dependencies: [
                .product(name: "BenchHarness", package: "tributary"),
                .product(name: "KafkaProtocol", package: "tributary"),
                .product(name: "KafkaClient", package: "tributary"),
                .product(name: "MQTTProtocol", package: "tributary"),
                .product(name: "Compression", package: "tributary"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/tributary-bench",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "KafkaProtocol", package: "tributary"),
                .product(name: "Compression", package: "tributary"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/CodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "StorageBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "LogStore", package: "tributary"),
                .product(name: "KafkaProtocol", package: "tributary"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/StorageBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "CoordinatorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Coordinator", package: "tributary"),
                .product(name: "KafkaProtocol", package: "tributary"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/CoordinatorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "MQTTBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "MQTTBroker", package: "tributary"),
                .product(name: "MQTTProtocol", package: "tributary"),
                .product(name: "Bridge", package: "tributary"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/MQTTBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
