import Foundation
import KafkaProtocol
import LogStore
public import Logging
public import MQTTBroker
public import MQTTProtocol
import NIOConcurrencyHelpers
import NIOCore

/// The MQTT topic a downlink record is delivered to: literal text with `${key}`, `${topic}` (the
/// Kafka topic), `${partition}` and `${header.NAME}` placeholders. A record without the key or header a
/// template needs is skipped (and counted).
public struct DownlinkTemplate: Sendable, CustomStringConvertible {
    enum Part: Sendable {
        case literal(String)
        case key
        case topic
        case partition
        case header(String)
    }

    let parts: [Part]
    public let description: String

    public init(parsing text: String) throws(RouteError) {
        parts = try TemplateText.parse(text, literal: Part.literal) { name throws(RouteError) in
            switch name {
            case "key": return .key
            case "topic": return .topic
            case "partition": return .partition
            default:
                guard name.hasPrefix("header."), name.count > "header.".count else {
                    throw RouteError("template '\(text)': unknown placeholder '${\(name)}' (use key, topic, partition or header.NAME)")
                }
                return .header(String(name.dropFirst("header.".count)))
            }
        }
        self.description = text
    }

    /// The rendered topic, or nil when the record lacks what the template needs.
    func render(key: ByteBuffer?, topic: String, partition: Int32, headers: [RecordHeader]) -> String? {
        var result = ""
        for part in parts {
            switch part {
            case .literal(let text): result += text
            case .key:
                guard let key else { return nil }
                result += String(decoding: key.readableBytesView, as: UTF8.self)
            case .topic: result += topic
            case .partition: result += String(partition)
            case .header(let name):
                guard let header = headers.first(where: { $0.key == name }), let value = header.value else { return nil }
                result += String(decoding: value.readableBytesView, as: UTF8.self)
            }
        }
        return result
    }
}

public struct DownlinkDefinition: Sendable {
    /// Names the downlink's committed positions; defaults to `from->to`.
    public var name: String
    public var from: String
    public var to: DownlinkTemplate
    public var qos: MQTTQoS
    public var retain: Bool

    public init(name: String? = nil, from: String, to: DownlinkTemplate, qos: MQTTQoS, retain: Bool = false) {
        self.name = name ?? "\(from)->\(to.description)"
        self.from = from
        self.to = to
        self.qos = qos
        self.retain = retain
    }
}

/// Delivers the records of topics to MQTT subscribers. Each partition is read from the downlink's
/// committed position; a record is published through the broker (stored through the ingress routes, so
/// an offline persistent subscriber gets it when it is back), and the position is committed only after
/// everything before it was stored: after a crash or restart delivery resumes there, at least once.
/// Positions are kept in the compacted topic `__mqtt_downlinks` (key `name/partition`).
public final class DownlinkService: Sendable {
    public static let positionsTopic = "__mqtt_downlinks"
    public static let publisherPrefix = "$downlink/"

    let topics: TopicCache
    let core: MQTTBrokerCore
    let logger: Logger
    let clock: @Sendable () -> Int64
    private let tasks = NIOLockedValueBox<[String: Task<Void, Never>]>([:])
    private let positions = NIOLockedValueBox<[String: Int64]>([:])
    private let skipped = NIOLockedValueBox<[String: Int64]>([:])

    public init(provider: any TopicProvider, core: MQTTBrokerCore, logger: Logger, clock: @escaping @Sendable () -> Int64) {
        self.topics = TopicCache(provider: provider)
        self.core = core
        self.logger = logger
        self.clock = clock
    }

    private func positionsLog() throws -> any PartitionLog {
        let logs = try topics.logs(of: Self.positionsTopic, partitions: 1, configs: ["cleanup.policy": "compact", "retention.ms": "-1"])
        guard let first = logs.first else { throw NoPartitions(topic: Self.positionsTopic) }
        return first
    }

    /// Reads the committed positions (at start).
    public func loadPositions() async throws {
        var loaded: [String: Int64] = [:]
        try await LogStateStore.scan(try positionsLog()) { key, value, _, _ in
            if let value, let offset = Int64(String(decoding: value.readableBytesView, as: UTF8.self)) {
                loaded[key] = offset
            } else {
                loaded[key] = nil
            }
        }
        positions.withLockedValue { $0 = loaded }
    }

    /// Runs exactly these downlinks: new ones start, removed ones stop, unchanged ones go on.
    public func apply(_ definitions: [DownlinkDefinition]) {
        let wanted = Dictionary(definitions.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        tasks.withLockedValue { running in
            for (name, task) in running where wanted[name] == nil {
                task.cancel()
                running[name] = nil
                logger.info("downlink stopped", metadata: ["downlink": "\(name)"])
            }
            for (name, definition) in wanted where running[name] == nil {
                running[name] = Task { await self.run(definition) }
                logger.info("downlink started", metadata: ["downlink": "\(name)", "from": "\(definition.from)", "to": "\(definition.to)"])
            }
        }
    }

    public func stop() async {
        let running = tasks.withLockedValue { running in
            let all = Array(running.values)
            running.removeAll()
            return all
        }
        for task in running { task.cancel() }
        for task in running { await task.value }
    }

    private func run(_ definition: DownlinkDefinition) async {
        let logs: [any PartitionLog]
        do {
            logs = try topics.logs(of: definition.from, partitions: 1)
        } catch {
            logger.error("downlink cannot open its topic", metadata: ["downlink": "\(definition.name)", "topic": "\(definition.from)", "error": "\(error)"])
            return
        }
        await withTaskGroup(of: Void.self) { group in
            for (index, log) in logs.enumerated() {
                group.addTask { await self.run(definition, partition: Int32(index), log: log) }
            }
        }
    }

    private func run(_ definition: DownlinkDefinition, partition: Int32, log: any PartitionLog) async {
        let positionKey = "\(definition.name)/\(partition)"
        var offset = positions.withLockedValue { $0[positionKey] } ?? log.offsets.logStartOffset
        var idleMilliseconds: UInt64 = 5
        while !Task.isCancelled {
            let records: [(offset: Int64, record: Record)]
            switch await LogMessageLog.read(log, from: offset, maxBytes: 1 << 20) {
            case .before(let logStartOffset):
                logger.warning("downlink position was deleted by retention; resuming at the log start", metadata: [
                    "downlink": "\(definition.name)", "partition": "\(partition)", "from": "\(offset)", "to": "\(logStartOffset)",
                ])
                offset = logStartOffset
                continue
            case .failure(let error):
                logger.error("downlink read failed", metadata: ["downlink": "\(definition.name)", "partition": "\(partition)", "error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            case .records(let result):
                guard var bytes = result.records else {
                    // Nothing new: wait a little (longer while it stays idle, at most 100 ms).
                    try? await Task.sleep(for: .milliseconds(idleMilliseconds))
                    idleMilliseconds = min(100, idleMilliseconds * 2)
                    continue
                }
                var decoded: [(offset: Int64, record: Record)] = []
                do {
                    for batch in try RecordBatch.validatedBatches(in: &bytes) where !batch.header.isControl {
                        for record in try batch.records() {
                            let recordOffset = batch.header.baseOffset + Int64(record.offsetDelta)
                            if recordOffset >= offset { decoded.append((recordOffset, record)) }
                        }
                    }
                } catch {
                    logger.error("downlink cannot decode records", metadata: ["downlink": "\(definition.name)", "error": "\(error)"])
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                records = decoded
            }
            idleMilliseconds = 5
            guard let last = records.last else { continue }
            guard await deliver(records, definition: definition, partition: partition) else {
                // Something could not be stored: deliver again from the same position (at least once).
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            // Committed even when stopping meanwhile: these messages are stored, delivering them again after a
            // restart would duplicate them.
            offset = last.offset + 1
            await commit(positionKey, offset)
        }
    }

    /// Publishes the records in offset order and returns once each is stored; false when one could not be
    /// (logged).
    private func deliver(_ records: [(offset: Int64, record: Record)], definition: DownlinkDefinition, partition: Int32) async -> Bool {
        var stored: [EventLoopFuture<Bool>] = []
        for (offset, record) in records {
            guard let target = definition.to.render(key: record.key, topic: definition.from, partition: partition, headers: record.headers),
                  MQTTTopic.validateName(target) else {
                let count = skipped.withLockedValue { counts in
                    counts[definition.name, default: 0] += 1
                    return counts[definition.name]!
                }
                if count == 1 || count % 1000 == 0 {
                    logger.warning("downlink skipped a record its template cannot place", metadata: [
                        "downlink": "\(definition.name)", "offset": "\(offset)", "template": "\(definition.to)", "skippedSoFar": "\(count)",
                    ])
                }
                continue
            }
            let message = MQTTMessage(
                topic: target, payload: record.value ?? ByteBuffer(), qos: definition.qos, retain: definition.retain, properties: MQTTProperties(),
                publisherClientId: Self.publisherPrefix + definition.name, publisherUsername: nil, receivedAtMilliseconds: clock())
            // Published in order (the broker's loop runs them in call order); stored concurrently.
            let promise = core.eventLoop.makePromise(of: Bool.self)
            core.publish(message) { result in
                if case .failure(let error) = result {
                    self.logger.error("downlink publish failed", metadata: ["downlink": "\(definition.name)", "topic": "\(target)", "error": "\(error)"])
                    promise.succeed(false)
                } else {
                    promise.succeed(true)
                }
            }
            stored.append(promise.futureResult)
        }
        guard !stored.isEmpty else { return true }
        let results = try? await EventLoopFuture.whenAllSucceed(stored, on: core.eventLoop).get()
        return results?.allSatisfy { $0 } ?? false
    }

    private func commit(_ key: String, _ offset: Int64) async {
        positions.withLockedValue { $0[key] = offset }
        do {
            let batch = try MQTTRecordFormat.batch(
                key: ByteBuffer(string: key), value: ByteBuffer(string: String(offset)), headers: [], timestamp: clock())
            _ = try await positionsLog().append(batch, durability: .durable)
        } catch {
            logger.error("downlink position could not be committed", metadata: ["position": "\(key)", "offset": "\(offset)", "error": "\(error)"])
        }
    }
}
