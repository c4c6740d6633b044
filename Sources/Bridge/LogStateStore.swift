import Foundation
import KafkaProtocol
import LogStore
public import Logging
public import MQTTBroker
import MQTTProtocol
import NIOCore

/// MQTT sessions and retained messages in compacted internal topics: `__mqtt_sessions` (key = client
/// id, value = the session as JSON, a tombstone when it ends) and `__mqtt_retained` (key = MQTT topic,
/// the message as an ingress record, a tombstone when cleared). The latest record per key wins, so
/// compaction keeps them small and a restart reads them back.
public final class LogStateStore: MQTTStateStore {
    public static let sessionsTopic = "__mqtt_sessions"
    public static let retainedTopic = "__mqtt_retained"
    static let configs = ["cleanup.policy": "compact", "retention.ms": "-1"]

    let topics: TopicCache
    let logger: Logger

    public init(provider: any TopicProvider, logger: Logger = Logger(label: "tributary.mqtt-state")) {
        self.topics = TopicCache(provider: provider)
        self.logger = logger
    }

    private func log(_ topic: String) throws -> any PartitionLog {
        let logs = try topics.logs(of: topic, partitions: 1, configs: Self.configs)
        guard let first = logs.first else { throw NoPartitions(topic: topic) }
        return first
    }

    public func loadSessions() async throws -> [StoredSession] {
        let decoder = JSONDecoder()
        var sessions: [String: StoredSession] = [:]
        try await Self.scan(try log(Self.sessionsTopic)) { key, value, _, _ in
            if let value {
                do {
                    sessions[key] = try decoder.decode(StoredSession.self, from: Data(value.readableBytesView))
                } catch {
                    // A record this version cannot read: that session is lost, and the log says so; the
                    // others load and the server starts.
                    sessions[key] = nil
                    logger.error("skipped an unreadable __mqtt_sessions record; that client starts with a new session", metadata: ["client": "\(key)", "error": "\(error)"])
                }
            } else {
                sessions[key] = nil
            }
        }
        return Array(sessions.values)
    }

    public func loadRetained() async throws -> [MQTTMessage] {
        var retained: [String: MQTTMessage] = [:]
        try await Self.scan(try log(Self.retainedTopic)) { key, _, record, timestamp in
            if record.value == nil {
                retained[key] = nil
            } else if let message = MQTTRecordFormat.message(from: record, timestamp: timestamp, position: nil) {
                retained[key] = message
            }
        }
        return Array(retained.values)
    }

    public func saveSession(clientId: String, _ session: StoredSession?, durable: Bool, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        do {
            let value = try session.map { ByteBuffer(bytes: try JSONEncoder().encode($0)) }
            try append(Self.sessionsTopic, key: clientId, value: value, headers: [], durable: durable, completion: completion)
        } catch {
            completion(.failure(error))
        }
    }

    public func saveRetained(topic: String, _ message: MQTTMessage?, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        do {
            try append(
                Self.retainedTopic, key: topic, value: message?.payload, headers: message.map(MQTTRecordFormat.headers(of:)) ?? [], durable: true,
                completion: completion)
        } catch {
            completion(.failure(error))
        }
    }

    private func append(
        _ topic: String, key: String, value: ByteBuffer?, headers: [RecordHeader], durable: Bool,
        completion: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) throws {
        let batch = try MQTTRecordFormat.batch(
            key: ByteBuffer(string: key), value: value, headers: headers, timestamp: Int64(Date().timeIntervalSince1970 * 1000))
        let topics = self.topics
        try log(topic).append(batch, durability: durable ? .durable : .written) { result in
            switch result {
            case .success: completion(.success(()))
            case .failure(let error):
                topics.invalidate(topic)
                completion(.failure(error))
            }
        }
    }

    /// Every keyed record of a log from its start, in order: key, value, record, timestamp.
    static func scan(_ log: any PartitionLog, _ body: (String, ByteBuffer?, Record, Int64) throws -> Void) async throws {
        try await log.scanRecords { record, _, timestamp in
            guard let key = record.key else { return }
            try body(String(decoding: key.readableBytesView, as: UTF8.self), record.value, record, timestamp)
        }
    }
}

public struct StateStoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
