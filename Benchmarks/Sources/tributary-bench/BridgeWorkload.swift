import ArgumentParser
import BenchHarness
import Foundation
import MQTTProtocol
import NIOCore

// MARK: - mqtt-to-kafka

struct MQTTToKafka: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-to-kafka",
        abstract: "Device publish -> record fetched by a Kafka consumer of the routed topic; end-to-end latency.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var mqttOptions: MQTTOptions

    @Option(help: "The Kafka listener of the same broker, HOST:PORT.")
    var kafka: String = "127.0.0.1:9092"

    @Option(help: "The Kafka topic the broker routes the devices' topics to (Tributary's fallback route: mqtt.messages).")
    var kafkaTopic: String = "mqtt.messages"

    @Option(help: "Device connections.")
    var devices: Int = 100

    @Option(help: "Offered messages per second, all devices together.")
    var rate: Double = 10_000

    @Option(help: "Fetch long-poll wait, ms.")
    var fetchWaitMs: Int32 = 500

    mutating func validate() throws {
        try common.validateCommon()
        try mqttOptions.validateMQTT()
        guard devices >= 1, rate > 0 else { throw ValidationError("--devices and --rate must be positive") }
    }

    func run() throws {
        let mqttAddress = try resolve(mqttOptions.mqtt, option: "--mqtt")
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        // Parsed, not `KafkaOptions()`: an option group made with its plain initializer traps on the first
        // option read that was not set by hand.
        let kafkaOptions = try KafkaOptions.parse(["--kafka", kafka])
        let prepared = try prepareKafka(run: run, options: kafkaOptions, topic: kafkaTopic, create: false)
        let partitions = prepared.partitions
        let latest = try run.loop(0).flatSubmit { prepared.admin.offsets(self.kafkaTopic, partitions: partitions, timestamp: -1) }.wait("ListOffsets")
        let consumerLoop = run.loop(run.loops.count - 1)
        let consumer = try KafkaBenchConnection.connect(on: consumerLoop, to: prepared.address, clientId: "tributary-bench-consumer").wait("connecting the consumer")
        let stats = run.stats(on: consumerLoop)
        let runId = run.runId
        var from: [Int: Int64] = [:]
        for partition in 0..<partitions { from[partition] = latest[partition] }
        let fetcher = BenchFetcher(connection: consumer, topic: kafkaTopic, from: from, to: nil, maxWaitMs: fetchWaitMs, clock: run.clock) { _, _, value, now in
            guard let value, let stamp = Stamp.read(value, run: runId) else { return }
            stats.received += 1
            stats.tracker.record(stream: Int(stamp.stream), sequence: stamp.sequence)
            stats.recorder.record(intendedStart: stamp.intended, actualStart: stamp.actual, end: now)
            stats.interval.record(intendedStart: stamp.intended, actualStart: stamp.actual, end: now)
            if run.inMeasuredWindow(now) {
                stats.measuredEvents += 1
                stats.measuredBytes += UInt64(value.readableBytes)
            }
        }
        fetcher.start()

        let base = "\(mqttOptions.topicPrefix)/\(run.runId)/devices"
        let clients = try connectClients(run: run, count: devices, address: mqttAddress, options: mqttOptions, clientId: { "bench-\(runId)-dev-\($0)" })
        defer { disconnectAll(clients) }
        let set = PublisherSet(run: run, clients: clients, topics: (0..<devices).map { "\(base)/\($0)" }, qos: try mqttOptions.qosLevel, payloadSize: mqttOptions.payloadSize, round: runId)
        run.beginTimeline()
        set.start(rate: rate, recordAcknowledgments: false)
        let planned = UInt64(set.plannedSends)
        run.waitForEnd { run.snapshot().received >= planned }
        fetcher.stop()
        let gathered = try run.gather()
        let sent = try set.sentCounts()
        var perStream: [Int: UInt64] = [:]
        for (device, count) in sent.enumerated() { perStream[device] = count }
        var failures = gathered.failures + (try consumerLoop.submit { fetcher.errors }.wait())
        let closed = clients.filter { $0.closed }.count
        if closed > 0 { failures.append("\(closed) device connections were closed by the broker") }
        consumer.close()
        prepared.admin.close()
        let seconds = run.measuredSeconds
        var parameters = mqttOptions.parameters
        parameters["devices"] = String(devices)
        parameters["rate"] = String(rate)
        parameters["kafka-topic"] = kafkaTopic
        parameters["fetch-wait-ms"] = String(fetchWaitMs)
        let metrics = [
            Metric(name: "records consumed/s", value: Double(gathered.events) / seconds, unit: "rec/s", higherIsBetter: true),
            Metric(name: "offered/s", value: Double(gathered.sends) / seconds, unit: "msg/s", higherIsBetter: true),
        ]
        let code = run.finish(
            workload: "mqtt-to-kafka", label: "mqtt-to-kafka \(devices) devices \(shortCount(rate))/s qos\(mqttOptions.qos)",
            parameters: parameters, brokerAddress: "\(mqttOptions.mqtt) + \(kafka)", metrics: metrics, latency: gathered.recorder,
            delivery: gathered.tracker.counts(sentPerStream: perStream), failures: failures,
            notes: ["latency: from the intended MQTT publish time to the record's arrival in a Fetch response of \(kafkaTopic)"])
        throw ExitCode(code)
    }
}
