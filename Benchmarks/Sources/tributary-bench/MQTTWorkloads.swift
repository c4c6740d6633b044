import ArgumentParser
import BenchHarness
import Foundation
import MQTTProtocol
import NIOCore
import NIOPosix

struct MQTTOptions: ParsableArguments {
    @Option(help: "The MQTT broker, HOST:PORT.")
    var mqtt: String = "127.0.0.1:1883"

    @Option(help: "Connect with TLS (mqtts), trusting the CAs in this PEM file.")
    var mqttTlsCa: String?

    @Option(help: "MQTT protocol version: 3.1.1 or 5.")
    var mqttVersion: String = "3.1.1"

    @Option(help: "QoS of publishes and subscriptions: 0, 1 or 2.")
    var qos: UInt8 = 1

    @Option(help: "Payload bytes per message (at least \(Stamp.size): the stamp).")
    var payloadSize: Int = 64

    @Option(help: "Most unacknowledged QoS 1/2 publishes per publisher (a broker's receive maximum).")
    var maxInflight: Int = 100

    @Option(help: "Topic prefix; every run adds its own id below it.")
    var topicPrefix: String = "tributary-bench"

    var version: MQTTProtocolVersion {
        get throws {
            switch mqttVersion {
            case "3.1.1", "4": return .v3_1_1
            case "5", "5.0": return .v5
            default: throw ValidationError("--mqtt-version must be 3.1.1 or 5")
            }
        }
    }

    var qosLevel: MQTTQoS {
        get throws {
            guard let level = MQTTQoS(rawValue: qos) else { throw ValidationError("--qos must be 0, 1 or 2") }
            return level
        }
    }

    func validateMQTT() throws {
        _ = try version
        _ = try qosLevel
        guard payloadSize >= Stamp.size else { throw ValidationError("--payload-size must be at least \(Stamp.size)") }
        guard maxInflight >= 1 && maxInflight <= 65535 else { throw ValidationError("--max-inflight must be 1...65535") }
    }

    var parameters: [String: String] {
        ["mqtt-version": mqttVersion, "qos": String(qos), "payload-size": String(payloadSize), "max-inflight": String(maxInflight),
         "tls": mqttTlsCa == nil ? "no" : "yes"]
    }
}

/// Connects `count` MQTT clients spread over the run's loops, at most `parallel` handshakes at a time.
func connectClients(
    run: BenchRun, count: Int, address: SocketAddress, options: MQTTOptions, clientId: (Int) -> String,
    source: ((Int) -> SocketAddress?)? = nil, parallel: Int = 256, keepAlive: UInt16 = 60,
    configure: @escaping (Int, MQTTBenchClient) -> Void = { _, _ in }
) throws -> [MQTTBenchClient] {
    let version = try options.version
    let tls = try BenchTLS.setup(caFile: options.mqttTlsCa)
    var clients = [MQTTBenchClient?](repeating: nil, count: count)
    var next = 0
    while next < count {
        let slice = next..<min(count, next + parallel)
        let futures = slice.map { index -> EventLoopFuture<MQTTBenchClient> in
            let loop = run.loop(index)
            let id = clientId(index)
            return MQTTBenchClient.connect(on: loop, to: address, source: source?(index), version: version, clock: run.clock, maximumInflight: options.maxInflight, tls: tls)
                .flatMap { client in
                    configure(index, client)
                    return client.handshake(clientId: id, keepAliveSeconds: keepAlive).map { _ in client }
                }
        }
        for (offset, future) in futures.enumerated() {
            clients[slice.lowerBound + offset] = try future.wait("connecting MQTT client \(slice.lowerBound + offset) to \(options.mqtt)")
        }
        next = slice.upperBound
    }
    return clients.map { $0! }
}

func disconnectAll(_ clients: [MQTTBenchClient]) {
    for client in clients {
        _ = try? client.disconnectOnLoop().wait()
    }
}

extension MQTTBenchClient {
    /// `disconnect()` from any thread.
    func disconnectOnLoop() -> EventLoopFuture<Void> {
        eventLoopForCalls.flatSubmit { self.disconnect() }
    }
}

/// Publishers driven by per-loop pacers: publisher p sends its messages at `rate / publishers` each,
/// staggered, with sequence numbers 0, 1, 2... on stream p.
final class PublisherSet: @unchecked Sendable {
    let run: BenchRun
    let clients: [MQTTBenchClient]
    let topics: [String]
    let qos: MQTTQoS
    let payloadSize: Int
    var round: UInt32
    /// Sent per publisher; each entry only touched on its publisher's loop.
    var sentPerPublisher: [UInt64]
    private var pacers: [Pacer] = []

    init(run: BenchRun, clients: [MQTTBenchClient], topics: [String], qos: MQTTQoS, payloadSize: Int, round: UInt32) {
        self.run = run
        self.clients = clients
        self.topics = topics
        self.qos = qos
        self.payloadSize = payloadSize
        self.round = round
        sentPerPublisher = [UInt64](repeating: 0, count: clients.count)
    }

    /// Starts the pacers for one round at `rate` messages per second in all. With `recordAcknowledgments`,
    /// QoS 1/2 acknowledgments are the measured events (ingest).
    func start(rate: Double, recordAcknowledgments: Bool) {
        sentPerPublisher = [UInt64](repeating: 0, count: clients.count)
        let owned = assign(clients.count, over: run.loops.count)
        let perPublisher = rate / Double(clients.count)
        pacers = []
        for (loopIndex, indices) in owned.enumerated() where !indices.isEmpty {
            let loop = run.loops[loopIndex]
            let stats = run.stats(on: loop)
            let mine = indices
            let round = self.round
            for publisher in mine {
                let client = clients[publisher]
                client.onAcknowledged = recordAcknowledgments ? { [run] outgoing, reason, now in
                    if reason.rawValue >= 0x80 {
                        stats.negativeAcknowledgments += 1
                        stats.fail("publisher \(outgoing.stream) message \(outgoing.sequence) refused: \(reason)")
                        return
                    }
                    stats.received += 1
                    stats.tracker.record(stream: outgoing.stream, sequence: outgoing.sequence)
                    stats.recorder.record(intendedStart: outgoing.intended, actualStart: outgoing.actual, end: now)
                    stats.interval.record(intendedStart: outgoing.intended, actualStart: outgoing.actual, end: now)
                    if run.inMeasuredWindow(now) {
                        stats.measuredEvents += 1
                        stats.measuredBytes += UInt64(self.payloadSize)
                    }
                } : nil
            }
            var touched = Set<Int>()
            let pacer = Pacer(
                loop: loop, rate: perPublisher * Double(mine.count), start: run.start, end: run.sendEnd, clock: run.clock,
                send: { [unowned self] index, intended, now in
                    let publisher = mine[index % mine.count]
                    let client = self.clients[publisher]
                    if self.qos != .atMostOnce && !client.canPublishAcknowledged { return false }
                    let sequence = self.sentPerPublisher[publisher]
                    let payload = Stamp.make(
                        Stamp.Fields(run: round, stream: UInt32(publisher), sequence: sequence, intended: intended, actual: now),
                        totalSize: self.payloadSize, allocator: ByteBufferAllocator())
                    let outgoing = OutgoingPublish(stream: publisher, sequence: sequence, intended: intended, actual: now)
                    guard client.publish(topic: self.topics[publisher % self.topics.count], qos: self.qos, payload: payload, outgoing: outgoing) else {
                        return false
                    }
                    self.sentPerPublisher[publisher] = sequence + 1
                    stats.sent += 1
                    if run.inMeasuredWindow(intended) { stats.measuredSends += 1 }
                    touched.insert(publisher)
                    return true
                },
                flush: { [unowned self] in
                    for publisher in touched { self.clients[publisher].flush() }
                    touched.removeAll(keepingCapacity: true)
                })
            pacers.append(pacer)
        }
        for pacer in pacers { pacer.start() }
    }

    /// Total sends the pacers will make (for completion checks).
    var plannedSends: Int { pacers.reduce(0) { $0 + $1.total } }

    /// Sent per publisher, read on each publisher's loop.
    func sentCounts() throws -> [UInt64] {
        var counts = [UInt64](repeating: 0, count: clients.count)
        for (loopIndex, indices) in assign(clients.count, over: run.loops.count).enumerated() where !indices.isEmpty {
            let values = try run.loops[loopIndex].submit { indices.map { self.sentPerPublisher[$0] } }.wait()
            for (offset, publisher) in indices.enumerated() { counts[publisher] = values[offset] }
        }
        return counts
    }
}

// MARK: - mqtt-fanout

struct MQTTFanout: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-fanout",
        abstract: "P publishers -> N subscribers on shared topics; latency of every delivery, deliveries/s.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var mqttOptions: MQTTOptions

    @Option(help: "Publishing clients.")
    var publishers: Int = 1

    @Option(help: "Subscribing clients; each subscribes to every topic of the run.")
    var subscribers: Int = 100

    @Option(help: "Topics the publishers spread over.")
    var topics: Int = 1

    @Option(help: "Offered publish rate, messages per second, all publishers together.")
    var rate: Double = 1000

    @OptionGroup var search: MaxRateSearch

    mutating func validate() throws {
        try common.validateCommon()
        try mqttOptions.validateMQTT()
        guard publishers >= 1, subscribers >= 1, topics >= 1, rate > 0 else {
            throw ValidationError("--publishers, --subscribers, --topics and --rate must be positive")
        }
    }

    func run() throws {
        let address = try resolve(mqttOptions.mqtt, option: "--mqtt")
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        let qos = try mqttOptions.qosLevel
        let base = "\(mqttOptions.topicPrefix)/\(run.runId)"
        let topicNames = (0..<topics).map { "\(base)/fanout/\($0)" }
        var round: UInt32 = run.runId
        let publishers = self.publishers
        let subscribers = try connectClients(
            run: run, count: subscribers, address: address, options: mqttOptions, clientId: { "bench-\(run.runId)-sub-\($0)" },
            configure: { index, client in
                let loop = run.loop(index)
                client.onPublish = { publish, now in
                    guard let stamp = Stamp.read(publish.payload, run: round) else { return }
                    let stats = run.stats(on: loop)
                    stats.received += 1
                    stats.tracker.record(stream: index * publishers + Int(stamp.stream), sequence: stamp.sequence)
                    stats.recorder.record(intendedStart: stamp.intended, actualStart: stamp.actual, end: now)
                    stats.interval.record(intendedStart: stamp.intended, actualStart: stamp.actual, end: now)
                    if run.inMeasuredWindow(now) {
                        stats.measuredEvents += 1
                        stats.measuredBytes += UInt64(publish.payload.readableBytes)
                    }
                }
            })
        for (index, client) in subscribers.enumerated() {
            _ = try run.loop(index).flatSubmit { client.subscribe("\(base)/fanout/#", qos: qos) }.wait("subscribing")
        }
        let publisherClients = try connectClients(
            run: run, count: publishers, address: address, options: mqttOptions, clientId: { "bench-\(run.runId)-pub-\($0)" })
        let set = PublisherSet(run: run, clients: publisherClients, topics: topicNames, qos: qos, payloadSize: mqttOptions.payloadSize, round: round)
        defer {
            disconnectAll(publisherClients)
            disconnectAll(subscribers)
        }

        func oneRound(rate: Double) throws -> SearchRound {
            for loop in run.loops { try loop.submit { run.stats(on: loop).reset() }.wait() }
            run.beginTimeline()
            set.round = round
            set.start(rate: rate, recordAcknowledgments: false)
            let planned = UInt64(set.plannedSends)
            let fanout = UInt64(self.subscribers)
            run.waitForEnd(deliveriesPerSend: fanout) { run.snapshot().received >= planned * fanout }
            let gathered = try run.gather()
            let sent = try set.sentCounts()
            var perStream: [Int: UInt64] = [:]
            for subscriber in 0..<self.subscribers {
                for publisher in 0..<publishers { perStream[subscriber * publishers + publisher] = sent[publisher] }
            }
            var failures = gathered.failures
            if UInt64(sent.reduce(0, +)) < planned {
                failures.append("the publishers sent \(sent.reduce(0, +)) of \(planned) messages (inflight windows full at the end)")
            }
            let closed = subscribers.filter { $0.closed }.count + publisherClients.filter { $0.closed }.count
            if closed > 0 { failures.append("\(closed) connections were closed by the broker") }
            return SearchRound(
                recorder: gathered.recorder, delivery: gathered.tracker.counts(sentPerStream: perStream), events: gathered.events,
                bytes: gathered.bytes, sends: gathered.sends, failures: failures)
        }

        var parameters = mqttOptions.parameters
        parameters["publishers"] = String(publishers)
        parameters["subscribers"] = String(self.subscribers)
        parameters["topics"] = String(topics)
        let qosText = "qos\(mqttOptions.qos)"
        if !search.findMax {
            parameters["rate"] = String(rate)
            let result = try oneRound(rate: rate)
            let seconds = run.measuredSeconds
            let metrics = [
                Metric(name: "deliveries/s", value: Double(result.events) / seconds, unit: "msg/s", higherIsBetter: true),
                Metric(name: "publishes/s", value: Double(result.sends) / seconds, unit: "msg/s", higherIsBetter: true),
                Metric(name: "delivered MB/s", value: Double(result.bytes) / seconds / 1e6, unit: "MB/s", higherIsBetter: true),
            ]
            let code = run.finish(
                workload: "mqtt-fanout", label: "mqtt-fanout \(publishers)x\(self.subscribers) \(shortCount(rate))/s \(qosText)",
                parameters: parameters, brokerAddress: mqttOptions.mqtt, metrics: metrics, latency: result.recorder,
                delivery: result.delivery, failures: result.failures, notes: [])
            throw ExitCode(code)
        }

        let fanout = self.subscribers
        let outcome = try search.run(start: rate, defaultGoalMs: 50, quiet: common.quiet, describe: { rate in
            String(format: "offered %.0f msg/s (%.0f deliveries/s)", rate, rate * Double(fanout))
        }, round: { rate in
            round &+= 1
            return try oneRound(rate: rate)
        })
        parameters.merge(outcome.parameters) { _, new in new }
        parameters["search-start-rate"] = String(rate)
        let seconds = run.measuredSeconds
        var metrics = [Metric(name: "max sustainable publish rate", value: outcome.best?.rate ?? 0, unit: "msg/s", higherIsBetter: true)]
        if let best = outcome.best {
            metrics.append(Metric(name: "max sustainable deliveries/s", value: best.rate * Double(fanout), unit: "msg/s", higherIsBetter: true))
            metrics.append(Metric(name: "deliveries/s measured at max", value: Double(best.result.events) / seconds, unit: "msg/s", higherIsBetter: true))
        }
        let code = run.finish(
            workload: "mqtt-fanout", label: "mqtt-fanout max rate \(publishers)x\(fanout) \(qosText)",
            parameters: parameters, brokerAddress: mqttOptions.mqtt, metrics: metrics, latency: outcome.best?.result.recorder,
            delivery: outcome.best?.result.delivery ?? DeliveryCounts(), failures: outcome.failures, notes: outcome.notes)
        throw ExitCode(code)
    }
}

/// One round of a rate search: what was measured at one offered rate.
struct SearchRound {
    var recorder: LatencyRecorder
    var delivery: DeliveryCounts
    var events: UInt64
    var bytes: UInt64
    var sends: UInt64
    var failures: [String]
}

/// `--find-max`: the highest offered rate whose round has p99 within the goal, nothing lost or duplicated,
/// and no failure. Doubles from the start rate until a round fails, then halves the gap between the last
/// passing and the first failing rate.
struct MaxRateSearch: ParsableArguments {
    @Flag(help: "Search the highest offered rate with p99 under --p99-goal-ms and nothing lost (doubling, then halving the gap).")
    var findMax = false

    @Option(help: "The latency goal of --find-max, milliseconds (default: the workload's).")
    var p99GoalMs: Double?

    @Option(help: "Search steps after the first failing rate (--find-max).")
    var refineSteps: Int = 3

    @Option(help: "Highest rate --find-max tries.")
    var maxRate: Double = 1_000_000

    struct Outcome {
        var best: (rate: Double, result: SearchRound)?
        var notes: [String]
        var parameters: [String: String]
        /// The run fails only when no rate passed: losses in rounds above the maximum are the search's probes.
        var failures: [String]
    }

    func run(start: Double, defaultGoalMs: Double, quiet: Bool, describe: (Double) -> String, round: (Double) throws -> SearchRound) throws -> Outcome {
        let goal = p99GoalMs ?? defaultGoalMs
        var notes: [String] = []
        var best: (rate: Double, result: SearchRound)? = nil
        var failingRate: Double? = nil
        var candidate = start
        var refinements = 0
        var delivery = DeliveryCounts()
        while true {
            let result = try round(candidate)
            delivery = delivery + result.delivery
            let p99 = result.recorder.summary().p99Micros / 1000
            let passed = result.delivery.isClean && result.failures.isEmpty && p99 <= goal
            notes.append(String(format: "%@: p99 %.1f ms, lost %llu, duplicated %llu -> %@",
                                describe(candidate), p99, result.delivery.lost, result.delivery.duplicated, passed ? "pass" : "fail"))
            if !quiet { print(notes.last!) }
            if passed {
                best = (candidate, result)
            } else {
                failingRate = candidate
            }
            if let failing = failingRate {
                guard refinements < refineSteps else { break }
                refinements += 1
                let low = best?.rate ?? 0
                let next = ((low + failing) / 2).rounded()
                if next <= low || next >= failing { break }
                candidate = next
            } else {
                candidate *= 2
                if candidate > maxRate { break }
            }
            // The broker drains what a failed round left queued before the next one starts.
            Thread.sleep(forTimeInterval: 1)
        }
        notes.append("search rounds' delivery, all rounds: \(delivery.received) delivered, \(delivery.lost) lost, \(delivery.duplicated) duplicated")
        let failures = best == nil ? ["no offered rate met the goal (p99 <= \(goal) ms, nothing lost)"] : []
        return Outcome(best: best, notes: notes, parameters: ["p99-goal-ms": String(goal)], failures: failures)
    }
}

// MARK: - mqtt-ingest

struct MQTTIngest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-ingest",
        abstract: "D devices each publishing at rate R (QoS 1 by default); acknowledgment latency and throughput.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var mqttOptions: MQTTOptions

    @Option(help: "Device connections.")
    var devices: Int = 1000

    @Option(help: "Messages per second per device (with --find-max, where the search starts).")
    var rate: Double = 10

    @OptionGroup var search: MaxRateSearch

    mutating func validate() throws {
        try common.validateCommon()
        try mqttOptions.validateMQTT()
        guard devices >= 1, rate > 0 else { throw ValidationError("--devices and --rate must be positive") }
        guard mqttOptions.qos > 0 else { throw ValidationError("mqtt-ingest measures acknowledgments: --qos must be 1 or 2") }
    }

    func run() throws {
        let address = try resolve(mqttOptions.mqtt, option: "--mqtt")
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        let base = "\(mqttOptions.topicPrefix)/\(run.runId)/ingest"
        let clients = try connectClients(run: run, count: devices, address: address, options: mqttOptions, clientId: { "bench-\(run.runId)-dev-\($0)" })
        defer { disconnectAll(clients) }
        var round = run.runId
        let set = PublisherSet(run: run, clients: clients, topics: (0..<devices).map { "\(base)/\($0)" }, qos: try mqttOptions.qosLevel, payloadSize: mqttOptions.payloadSize, round: round)
        let devices = self.devices

        func oneRound(ratePerDevice: Double) throws -> SearchRound {
            for loop in run.loops { try loop.submit { run.stats(on: loop).reset() }.wait() }
            run.beginTimeline()
            set.round = round
            set.start(rate: ratePerDevice * Double(devices), recordAcknowledgments: true)
            let planned = UInt64(set.plannedSends)
            run.waitForEnd { run.snapshot().received >= planned }
            let gathered = try run.gather()
            let sent = try set.sentCounts()
            var perStream: [Int: UInt64] = [:]
            for (device, count) in sent.enumerated() { perStream[device] = count }
            var failures = gathered.failures
            let closed = clients.filter { $0.closed }.count
            if closed > 0 { failures.append("\(closed) device connections were closed by the broker") }
            return SearchRound(
                recorder: gathered.recorder, delivery: gathered.tracker.counts(sentPerStream: perStream), events: gathered.events,
                bytes: gathered.bytes, sends: gathered.sends, failures: failures)
        }

        var parameters = mqttOptions.parameters
        parameters["devices"] = String(devices)
        let qosText = "qos\(mqttOptions.qos)"
        let latencyNote = "latency: from the intended publish time to the PUBACK\(mqttOptions.qos == 2 ? "/PUBCOMP" : "")"
        let seconds = { run.measuredSeconds }
        if !search.findMax {
            parameters["rate-per-device"] = String(rate)
            let result = try oneRound(ratePerDevice: rate)
            let metrics = [
                Metric(name: "acknowledged/s", value: Double(result.events) / seconds(), unit: "msg/s", higherIsBetter: true),
                Metric(name: "offered/s", value: Double(result.sends) / seconds(), unit: "msg/s", higherIsBetter: true),
                Metric(name: "acknowledged MB/s", value: Double(result.bytes) / seconds() / 1e6, unit: "MB/s", higherIsBetter: true),
            ]
            let code = run.finish(
                workload: "mqtt-ingest", label: "mqtt-ingest \(devices) devices x \(shortCount(rate))/s \(qosText)",
                parameters: parameters, brokerAddress: mqttOptions.mqtt, metrics: metrics, latency: result.recorder,
                delivery: result.delivery, failures: result.failures, notes: [latencyNote])
            throw ExitCode(code)
        }

        let outcome = try search.run(start: rate, defaultGoalMs: 10, quiet: common.quiet, describe: { rate in
            String(format: "offered %.0f msg/s (%.0f per device)", rate * Double(devices), rate)
        }, round: { rate in
            round &+= 1
            defer {
                // Acknowledgments still owed by the broker after a failed round would count in the next.
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline, clients.contains(where: { client in
                    (try? client.eventLoopForCalls.submit { client.inflightCount }.wait()) ?? 0 > 0
                }) {
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
            return try oneRound(ratePerDevice: rate)
        })
        parameters.merge(outcome.parameters) { _, new in new }
        parameters["search-start-rate-per-device"] = String(rate)
        var metrics = [Metric(name: "max sustainable acknowledged rate", value: (outcome.best?.rate ?? 0) * Double(devices), unit: "msg/s", higherIsBetter: true)]
        if let best = outcome.best {
            metrics.append(Metric(name: "acknowledged/s measured at max", value: Double(best.result.events) / seconds(), unit: "msg/s", higherIsBetter: true))
        }
        let code = run.finish(
            workload: "mqtt-ingest", label: "mqtt-ingest max rate \(devices) devices \(qosText)",
            parameters: parameters, brokerAddress: mqttOptions.mqtt, metrics: metrics, latency: outcome.best?.result.recorder,
            delivery: outcome.best?.result.delivery ?? DeliveryCounts(), failures: outcome.failures, notes: [latencyNote] + outcome.notes)
        throw ExitCode(code)
    }
}

// MARK: - mqtt-connections

struct MQTTConnections: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-connections",
        abstract: "Open C idle connections (source addresses spread over 127.0.0.0/8), the connect rate and the broker's memory.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var mqttOptions: MQTTOptions

    @Option(help: "Connections to open.")
    var connections: Int = 10_000

    @Option(help: "Handshakes in flight at once.")
    var parallel: Int = 256

    @Option(help: "Connections per source address (127.0.0.0/8 for a loopback broker; 0 = let the kernel choose).")
    var perSource: Int = 20_000

    @Option(help: "Seconds to hold the connections open (and idle) before measuring memory and closing.")
    var hold: Double = 5

    mutating func validate() throws {
        try common.validateCommon()
        try mqttOptions.validateMQTT()
        guard connections >= 1, parallel >= 1 else { throw ValidationError("--connections and --parallel must be positive") }
    }

    func run() throws {
        let address = try resolve(mqttOptions.mqtt, option: "--mqtt")
        let run = BenchRun(options: common)
        defer { run.shutdown() }
        let loopback = mqttOptions.mqtt.hasPrefix("127.") || mqttOptions.mqtt.hasPrefix("localhost")
        let perSource = self.perSource
        let source: ((Int) -> SocketAddress?)? = loopback && perSource > 0 ? { index in
            // 127.0.1.0, 127.0.1.1, ...: a new address every `perSource` connections, each with its own ports.
            let n = index / perSource + 256
            return try? SocketAddress(ipAddress: "127.\((n >> 16) & 0xFF).\((n >> 8) & 0xFF).\(n & 0xFF)", port: 0)
        } : nil
        let before = common.brokerPid.flatMap { ProcessMemory.residentBytes(pid: $0) }
        let started = run.clock.now()
        let clients = try connectClients(
            run: run, count: connections, address: address, options: mqttOptions, clientId: { "bench-\(run.runId)-idle-\($0)" },
            source: source, parallel: parallel, keepAlive: 600)
        let connectSeconds = Double(run.clock.now() - started) / 1e9
        if !common.quiet { print("opened \(connections) connections in \(String(format: "%.1f", connectSeconds)) s; holding \(hold) s") }
        Thread.sleep(forTimeInterval: hold)
        let after = common.brokerPid.flatMap { ProcessMemory.residentBytes(pid: $0) }
        let stillOpen = clients.filter { !$0.closed }.count
        disconnectAll(clients)
        var metrics = [
            Metric(name: "connections", value: Double(stillOpen), unit: "", higherIsBetter: true),
            Metric(name: "connect rate", value: Double(connections) / connectSeconds, unit: "conn/s", higherIsBetter: true),
        ]
        var notes: [String] = []
        if let before, let after {
            metrics.append(Metric(name: "broker RSS with the connections", value: Double(after) / 1_048_576, unit: "MiB", higherIsBetter: false))
            metrics.append(Metric(name: "broker memory per connection", value: (Double(after) - Double(before)) / Double(connections) / 1024, unit: "KiB", higherIsBetter: false))
            notes.append("broker RSS \(before / 1_048_576) MiB before connecting, \(after / 1_048_576) MiB with \(connections) connections")
        } else {
            notes.append("no --broker-pid: broker memory not measured")
        }
        var parameters = mqttOptions.parameters
        parameters["connections"] = String(connections)
        parameters["parallel"] = String(parallel)
        let delivery = DeliveryCounts(expected: UInt64(connections), received: UInt64(stillOpen), lost: UInt64(connections - stillOpen))
        let code = run.finish(
            workload: "mqtt-connections", label: "mqtt-connections \(connections)", parameters: parameters,
            brokerAddress: mqttOptions.mqtt, metrics: metrics, latency: nil, delivery: delivery,
            failures: stillOpen < connections ? ["\(connections - stillOpen) connections were closed while idle"] : [],
            notes: notes)
        throw ExitCode(code)
    }
}
