// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets, kept out of the main package because they only link with `-sanitize=fuzzer`
// (libFuzzer supplies `main`). Run from the repository root: `make fuzz`.
let package = Package(
    name: "tributary-fuzz",
    dependencies: [
        .package(name: "tributary", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FuzzKafkaRequestDecoder",
            dependencies: [
                .product(name: "KafkaProtocol", package: "tributary"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FuzzMQTTPacketDecoder",
            dependencies: [
                .product(name: "MQTTProtocol", package: "tributary"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
