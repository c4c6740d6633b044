import Benchmark
import Bridge
import MQTTBroker
import MQTTProtocol
import NIOCore

// The MQTT broker's hot paths: matching a topic against a large subscription trie, and encoding and
// decoding the packets a device sends most (PUBLISH QoS 1 with a 200-byte payload, PUBACK).

/// 1,000,000 subscriptions shaped like a fleet: each of 250,000 devices subscribes to its own command
/// topic, its own config topic with `+`, and its site's `#`; plus 250,000 wildcard dashboards.
func fleetTrie() -> SubscriptionTrie {
    let trie = SubscriptionTrie()
    let options = MQTTSubscriptionOptions(qos: .atLeastOnce)
    for device in 0..<250_000 {
        let client = "device-\(device)"
        trie.insert(SubscriptionEntry(clientId: client, filter: "devices/\(device)/commands", options: options, identifier: nil, shareGroup: nil))
        trie.insert(SubscriptionEntry(clientId: client, filter: "devices/\(device)/+/config", options: options, identifier: nil, shareGroup: nil))
        trie.insert(SubscriptionEntry(clientId: client, filter: "sites/\(device % 1000)/#", options: options, identifier: nil, shareGroup: nil))
        trie.insert(SubscriptionEntry(clientId: "dashboard-\(device)", filter: "sites/\(device % 1000)/+/alarm/\(device % 7)", options: options, identifier: nil, shareGroup: nil))
    }
    return trie
}

let benchmarks: @Sendable () -> Void = {
    defer { ruleBenchmarks() }
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 10,
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    // Checked by `make bench-check` against Benchmarks/Thresholds (see allocationCheckConfiguration).
    fanOutBenchmarks(checkConfiguration: allocationCheckConfiguration())

    let trie = fleetTrie()
    precondition(trie.count == 1_000_000)

    Benchmark("Trie match, 1M subscriptions: device command topic (1 match)") { benchmark in
        for index in benchmark.scaledIterations {
            blackHole(trie.matches(topic: "devices/\(index % 250_000)/commands"))
        }
    }

    Benchmark("Trie match, 1M subscriptions: site topic (250 # subscribers + alarms)") { benchmark in
        for index in benchmark.scaledIterations {
            blackHole(trie.matches(topic: "sites/\(index % 1000)/line-4/alarm/3"))
        }
    }

    Benchmark("Trie match, 1M subscriptions: unmatched topic") { benchmark in
        for index in benchmark.scaledIterations {
            blackHole(trie.matches(topic: "telemetry/\(index)/temperature"))
        }
    }

    let payload = ByteBuffer(repeating: 0x61, count: 200)
    var userProperties = MQTTProperties()
    userProperties.userProperties = [MQTTUserProperty(name: "site", value: "north")]
    let publish = MQTTPacket.publish(MQTTPublish(qos: .atLeastOnce, topic: "devices/d-000123/telemetry", packetId: 42, properties: userProperties, payload: payload))

    for version in [MQTTProtocolVersion.v3_1_1, .v5] {
        Benchmark("Encode PUBLISH QoS 1, 200 B payload (\(version))") { benchmark in
            var buffer = ByteBuffer()
            buffer.reserveCapacity(512)
            for _ in benchmark.scaledIterations {
                buffer.clear()
                try MQTTPacketCodec.encode(publish, version: version, into: &buffer)
                blackHole(buffer.readableBytes)
            }
        }

        var encoded = ByteBuffer()
        try! MQTTPacketCodec.encode(publish, version: version, into: &encoded)
        Benchmark("Decode PUBLISH QoS 1, 200 B payload (\(version))") { benchmark in
            for _ in benchmark.scaledIterations {
                var input = encoded
                blackHole(try MQTTPacketCodec.decode(from: &input, version: version, maximumPacketSize: 1 << 20))
            }
        }

        var ack = ByteBuffer()
        try! MQTTPacketCodec.encode(.pubAck(MQTTPacketAcknowledgement(packetId: 42)), version: version, into: &ack)
        Benchmark("Decode PUBACK (\(version))") { benchmark in
            for _ in benchmark.scaledIterations {
                var input = ack
                blackHole(try MQTTPacketCodec.decode(from: &input, version: version, maximumPacketSize: 1 << 20))
            }
        }
    }
}

// Rules: evaluating the issue's 3-predicate WHERE over a ~200-byte JSON telemetry payload (JSON parse
// included, as on the ingress path), and a rule that does not match the topic (the dispatch cost).
let ruleBenchmarks: @Sendable () -> Void = {
    let payload = ByteBuffer(string: #"{"temperature":104.5,"humidity":41,"pressure":1013.2,"battery":87,"status":"charging","site":"north-7","firmware":"2.4.1","uptime":123456,"alarms":[],"location":{"lat":52.52,"lon":13.405}}"#)
    let statement = try! RuleStatement(parsing: """
        SELECT payload.temperature AS t, clientid FROM 'devices/+/telemetry'
        WHERE payload.temperature > 100 AND payload.status = 'charging' AND payload.battery < 90
        """)
    let message = MQTTMessage(
        topic: "devices/d-000123/telemetry", payload: payload, qos: .atLeastOnce, retain: false, properties: MQTTProperties(),
        publisherClientId: "d-000123", publisherUsername: nil, receivedAtMilliseconds: 1_700_000_000_000)

    Benchmark("Rule: 3-predicate WHERE + 2 columns over a \(payload.readableBytes)-byte JSON payload (parse included)") { benchmark in
        for _ in benchmark.scaledIterations {
            var input = RuleInput(message: message)
            blackHole(try statement.evaluate(&input))
        }
    }

    Benchmark("Rule: topic dispatch, rule does not match") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(statement.matches(topic: "sites/north-7/status"))
        }
    }
}

/// The configuration of the `alloc.*` benchmarks that `make bench-check` runs with
/// `benchmark thresholds check`: only the malloc count (time is too noisy on shared machines), compared at
/// p90 with the value stored in Benchmarks/Thresholds/MQTTBenchmarks.<name>.p90.json. Any increase is a
/// regression; a decrease is reported as an improvement (then refresh the stored value).
func allocationCheckConfiguration() -> Benchmark.Configuration {
    .init(
        metrics: [.mallocCountTotal],
        warmupIterations: 100,
        maxDuration: .seconds(1),
        maxIterations: 10_000,
        thresholds: [.mallocCountTotal: BenchmarkThresholds(absolute: [.p90: 0])]
    )
}
