import KafkaProtocol
import LogStore
public import Logging
public import MQTTBroker
public import MQTTProtocol
import NIOConcurrencyHelpers
public import NIOCore

/// A configured rule: a statement and what to do with what it selects.
public struct RuleDefinition: Sendable {
    public enum Action: Sendable {
        /// Append to a topic: the selected columns as a JSON object, or for `SELECT *` over a message the
        /// original payload and MQTT headers unchanged (a filter-only rule).
        case topic(name: String, key: KeyTemplate, headers: [(String, KeyTemplate)], partitions: Int32)
        /// Publish to an MQTT topic (stored through the ingress routes and delivered to subscribers).
        case mqtt(topic: KeyTemplate, qos: MQTTQoS, retain: Bool)
    }

    public var name: String
    public var statement: RuleStatement
    public var action: Action

    public init(name: String, statement: RuleStatement, action: Action) {
        self.name = name
        self.statement = statement
        self.action = action
    }

    /// Device events this rule reads.
    public var eventNames: Set<String> {
        Set(statement.sources.compactMap { if case .event(let name) = $0 { name } else { nil } })
    }
}

/// Counters of one rule since it was loaded.
public struct RuleStatistics: Sendable, CustomStringConvertible {
    public var name: String
    /// Inputs whose topic or event the rule reads.
    public var matched: Int64 = 0
    /// Inputs that passed WHERE.
    public var passed: Int64 = 0
    /// Inputs whose evaluation failed (type errors), or whose output could not be written.
    public var failed: Int64 = 0
    /// Records appended or messages published.
    public var outputs: Int64 = 0
    /// Evaluation time histogram: bucket i counts evaluations under 2^i microseconds (the last: longer).
    public var evaluationMicrosecondsHistogram = [Int64](repeating: 0, count: 16)

    public var description: String {
        let buckets = evaluationMicrosecondsHistogram.enumerated().filter { $0.element > 0 }.map { "<\(1 << $0.offset)us:\($0.element)" }
        return "rule \(name): matched \(matched), passed \(passed), failed \(failed), outputs \(outputs), evaluation [\(buckets.joined(separator: " "))]"
    }

    /// The evaluation time below which `fraction` of evaluations fell (bucket upper bound, microseconds).
    public func evaluationPercentileMicroseconds(_ fraction: Double) -> Int {
        let total = evaluationMicrosecondsHistogram.reduce(0, +)
        guard total > 0 else { return 0 }
        var seen: Int64 = 0
        for (index, count) in evaluationMicrosecondsHistogram.enumerated() {
            seen += count
            if Double(seen) >= fraction * Double(total) { return 1 << index }
        }
        return 1 << (evaluationMicrosecondsHistogram.count - 1)
    }
}

/// Runs the rules over routed MQTT messages and device events, on its own event loop so that rule work
/// never delays the broker's. A rule that fails on one input counts it and logs it (at most once a
/// minute per rule) and goes on with the next.
///
/// Messages a rule published (client id `$rule/<name>`) are not fed to rules again, so that a rule whose
/// output matches its own source cannot loop.
public final class RuleEngine: Sendable {
    public static let publisherPrefix = "$rule/"

    let eventLoop: any EventLoop
    let writer: KeyedRecordWriter
    let logger: Logger
    let clock: @Sendable () -> Int64
    private let rules: NIOLockedValueBox<[LoadedRule]>
    private let publisher = NIOLockedValueBox<MQTTBrokerCore?>(nil)

    /// A rule and its counters; counters live with the rule so that a reload starts them afresh.
    final class LoadedRule: Sendable {
        let definition: RuleDefinition
        let statistics: NIOLockedValueBox<RuleStatistics>
        let lastFailureLog = NIOLockedValueBox<Int64>(0)

        init(_ definition: RuleDefinition) {
            self.definition = definition
            self.statistics = NIOLockedValueBox(RuleStatistics(name: definition.name))
        }
    }

    public init(rules: [RuleDefinition], eventLoop: any EventLoop, provider: any TopicProvider, logger: Logger, clock: @escaping @Sendable () -> Int64) {
        self.eventLoop = eventLoop
        self.writer = KeyedRecordWriter(provider: provider)
        self.logger = logger
        self.clock = clock
        self.rules = NIOLockedValueBox(rules.map(LoadedRule.init))
    }

    /// Where republished messages go.
    public func attach(_ core: MQTTBrokerCore) {
        publisher.withLockedValue { $0 = core }
    }

    /// Creates the output topics that do not exist yet (blocking).
    public func prepareTopics() throws {
        for rule in rules.withLockedValue({ $0 }) {
            if case .topic(let name, _, _, let partitions) = rule.definition.action {
                try writer.prepare(name, partitions: partitions)
            }
        }
    }

    /// Replaces every rule at once (a reload); counters start again.
    public func replaceRules(_ definitions: [RuleDefinition]) {
        let loaded = definitions.map(LoadedRule.init)
        rules.withLockedValue { $0 = loaded }
    }

    public var statistics: [RuleStatistics] {
        rules.withLockedValue { $0 }.map { $0.statistics.withLockedValue { $0 } }
    }

    /// Device events any rule reads.
    public var eventNames: Set<String> {
        rules.withLockedValue { $0 }.reduce(into: Set<String>()) { $0.formUnion($1.definition.eventNames) }
    }

    // MARK: Inputs

    /// A message the broker stored and delivered.
    public func routed(_ message: MQTTMessage) {
        if let publisher = message.publisherClientId, publisher.hasPrefix(Self.publisherPrefix) { return }
        let matching = rules.withLockedValue { $0 }.filter { $0.definition.statement.matches(topic: message.topic) }
        guard !matching.isEmpty else { return }
        eventLoop.execute {
            var input = RuleInput(message: message, headers: MQTTRecordFormat.headerPairs(of: message))
            for rule in matching {
                self.run(rule, on: &input, message: message, clientId: message.publisherClientId, username: message.publisherUsername)
            }
        }
    }

    /// A device event.
    public func event(_ event: MQTTEvent) {
        let matching = rules.withLockedValue { $0 }.filter { $0.definition.statement.matches(event: event.name) }
        guard !matching.isEmpty else { return }
        eventLoop.execute {
            var input = RuleInput(event: event)
            for rule in matching {
                self.run(rule, on: &input, message: nil, clientId: event.clientId, username: event.username)
            }
        }
    }

    // MARK: Evaluation

    private func run(_ rule: LoadedRule, on input: inout RuleInput, message: MQTTMessage?, clientId: String?, username: String?) {
        let started = ContinuousClock.now
        let output: RuleOutput?
        do {
            output = try rule.definition.statement.evaluate(&input)
        } catch {
            record(rule, elapsed: ContinuousClock.now - started, passed: false)
            failed(rule, "evaluation failed: \(error)")
            return
        }
        record(rule, elapsed: ContinuousClock.now - started, passed: output != nil)
        guard let output else { return }
        let topic = message?.topic ?? ""
        // SELECT * over a message forwards it unchanged; anything else is the selected JSON object.
        let forwardOriginal = rule.definition.statement.columnNames == nil && message != nil
        let payload: ByteBuffer
        if forwardOriginal, let message {
            payload = message.payload
        } else if let value = output.value {
            payload = ByteBuffer(string: value.jsonText)
        } else if let message {
            payload = message.payload
        } else {
            return
        }
        switch rule.definition.action {
        case .topic(let name, let keyTemplate, let headerTemplates, let partitions):
            let key = keyTemplate.render(clientId: clientId, username: username, topic: topic)
            var headers: [RecordHeader] = []
            if forwardOriginal, let message { headers = MQTTRecordFormat.headers(of: message) }
            for (headerName, template) in headerTemplates {
                headers.append(RecordHeader(key: headerName, value: ByteBuffer(string: template.render(clientId: clientId, username: username, topic: topic))))
            }
            append(rule, topic: name, partitions: partitions, key: key, value: payload, headers: headers,
                   timestamp: message?.receivedAtMilliseconds ?? input.timestampMilliseconds)
        case .mqtt(let topicTemplate, let qos, let retain):
            let target = topicTemplate.render(clientId: clientId, username: username, topic: topic)
            guard MQTTTopic.validateName(target) else {
                failed(rule, "republish topic '\(target)' is not a valid MQTT topic name")
                return
            }
            guard let core = publisher.withLockedValue({ $0 }) else { return }
            let republished = MQTTMessage(
                topic: target, payload: payload, qos: qos, retain: retain, properties: MQTTProperties(),
                publisherClientId: Self.publisherPrefix + rule.definition.name, publisherUsername: nil, receivedAtMilliseconds: clock())
            core.publish(republished) { result in
                switch result {
                case .success: rule.statistics.withLockedValue { $0.outputs += 1 }
                case .failure(let error): self.failed(rule, "republish to \(target) failed: \(error)")
                }
            }
        }
    }

    private func append(_ rule: LoadedRule, topic: String, partitions: Int32, key: String, value: ByteBuffer, headers: [RecordHeader], timestamp: Int64) {
        writer.write(to: topic, creatingWith: partitions, key: key, value: value, headers: headers, timestamp: timestamp, durable: false) { result in
            switch result {
            case .success: rule.statistics.withLockedValue { $0.outputs += 1 }
            case .failure(let error): self.failed(rule, "writing to \(topic) failed: \(error)")
            }
        }
    }

    /// Counts an evaluation (failures are counted by `failed`).
    private func record(_ rule: LoadedRule, elapsed: Duration, passed: Bool) {
        let (seconds, attoseconds) = elapsed.components
        let microseconds = max(0, seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        let bucket = min(15, microseconds <= 1 ? 0 : Int64.bitWidth - (microseconds - 1).leadingZeroBitCount)
        rule.statistics.withLockedValue { statistics in
            statistics.matched += 1
            if passed { statistics.passed += 1 }
            statistics.evaluationMicrosecondsHistogram[bucket] += 1
        }
    }

    /// Counts a failure; logs at most once a minute per rule.
    private func failed(_ rule: LoadedRule, _ reason: String) {
        rule.statistics.withLockedValue { $0.failed += 1 }
        let now = clock()
        let log = rule.lastFailureLog.withLockedValue { last in
            guard now - last >= 60_000 else { return false }
            last = now
            return true
        }
        if log {
            logger.warning("rule failed on an input (logged at most once a minute per rule)", metadata: [
                "rule": "\(rule.definition.name)", "reason": "\(reason)", "failedSoFar": "\(rule.statistics.withLockedValue { $0.failed })",
            ])
        }
    }
}

/// Feeds device events to the rules as well as to the events topic.
public struct RuleEventTap: MQTTEventSink {
    let sink: any MQTTEventSink
    let engine: RuleEngine

    public init(sink: any MQTTEventSink, engine: RuleEngine) {
        self.sink = sink
        self.engine = engine
    }

    public func emit(_ event: MQTTEvent) {
        sink.emit(event)
        engine.event(event)
    }
}
