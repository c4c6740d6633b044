import ArgumentParser
import KafkaProtocol

@main
struct Tributary: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tributary",
        abstract: "A Kafka-wire-compatible log server with an MQTT broker alongside.",
        version: "0.1.0",
        subcommands: [Serve.self, ApiKeys.self],
        defaultSubcommand: Serve.self
    )
}

/// Starts the server. The Kafka listener is not built yet; until it is, `serve` prints the configuration it
/// would use and exits with an error instead of pretending to serve.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the server.")

    @Option(help: "Data directory.")
    var data: String = "./data"

    @Option(name: .customLong("kafka-listen"), help: "Kafka listener address, HOST:PORT.")
    var kafkaListen: String = "0.0.0.0:9092"

    func run() throws {
        print("tributary configuration:")
        print("  data directory: \(data)")
        print("  kafka listener: \(kafkaListen)")
        print("  kafka APIs known to the codec: \(KafkaApiKey.allCases.count)")
        throw ValidationError("the Kafka server is not implemented yet; nothing is listening")
    }
}

/// Lists the API keys and versions the codec reads and writes.
struct ApiKeys: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api-keys", abstract: "List the Kafka API keys the codec supports.")

    func run() {
        for key in KafkaApiKey.allCases {
            let versions = key.validVersions
            print("\(key.rawValue)\t\(key.name)\t\(versions.lowerBound)-\(versions.upperBound)")
        }
    }
}
