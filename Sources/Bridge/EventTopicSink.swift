import KafkaProtocol
public import Logging
public import MQTTBroker
import NIOConcurrencyHelpers
import NIOCore

/// Writes device events as JSON records to the events topic (key = client id), without waiting for the
/// flush: events describe what happened, they are not acknowledged to anyone.
public final class EventTopicSink: MQTTEventSink {
    public let topic: String
    /// The events written to the topic (the broker may emit more, for rules).
    let written: Set<String>
    let writer: KeyedRecordWriter
    let logger: Logger
    private let failures = NIOLockedValueBox<(count: Int, lastLogged: Int64)>((0, 0))

    public init(topic: String, events: Set<String>, provider: any TopicProvider, logger: Logger) {
        self.topic = topic
        self.written = events
        self.writer = KeyedRecordWriter(provider: provider)
        self.logger = logger
    }

    public func prepareTopic() throws {
        try writer.prepare(topic, partitions: 1)
    }

    public func emit(_ event: MQTTEvent) {
        guard written.contains(event.name) else { return }
        writer.write(
            to: topic, creatingWith: 1, key: event.clientId, value: ByteBuffer(string: Self.json(event)), headers: [],
            timestamp: event.timestampMilliseconds, durable: false
        ) { result in
            if case .failure(let error) = result { self.failed(event, error) }
        }
    }

    /// Logged at most once a minute, with how many were lost since.
    private func failed(_ event: MQTTEvent, _ error: any Error) {
        let now = event.timestampMilliseconds
        let report: Int? = failures.withLockedValue { state in
            state.count += 1
            guard now - state.lastLogged >= 60_000 else { return nil }
            let count = state.count
            state = (0, now)
            return count
        }
        if let report {
            logger.error("device events could not be written", metadata: ["topic": "\(topic)", "lost": "\(report)", "error": "\(error)"])
        }
    }

    /// `{"event":..., "timestamp":..., "clientid":..., "username":..., <fields>}`.
    static func json(_ event: MQTTEvent) -> String {
        RuleValue.object(RuleValue.fields(of: event)).jsonText
    }
}
