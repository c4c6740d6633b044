import Coordinator
import Foundation
import KafkaProtocol
@testable import KafkaServer
import LogStore
import Logging
import NIOCore
import NIOPosix

/// A broker and group coordinator on a temporary data directory, driven through `ApiDispatcher` the way a
/// connection drives it: a request frame in, the encoded response frame out.
final class BrokerFixture: Sendable {
    let directory: String
    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    let broker: Broker
    let coordinator: GroupCoordinator

    init(autoCreateTopics: Bool = true) async throws {
        directory = NSTemporaryDirectory() + "tributary-kafkaserver-\(UUID().uuidString)"
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = BrokerConfiguration()
        configuration.dataDirectory = directory
        configuration.autoCreateTopics = autoCreateTopics
        let logs = LogManager(dataDirectory: directory, threadPool: pool, logger: logger)
        let topics = TopicRegistry(dataDirectory: directory, logger: logger)
        broker = Broker(configuration: configuration, topics: topics, logs: logs, threadPool: pool, logger: logger)
        coordinator = GroupCoordinator(storage: broker, eventLoop: group.next(), settings: .init(), logger: logger)
        _ = try await broker.start()
        try await coordinator.start()
    }

    func shutdown() async {
        await coordinator.stop()
        await broker.shutdown()
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Sends raw request bytes (header and body, no size prefix); returns the response body bytes after the
    /// response header, or nil when the server would close the connection.
    func send(frame: ByteBuffer) async throws -> (correlationId: Int32, body: ByteBuffer)? {
        let eventLoop = group.next()
        let broker = self.broker
        let coordinator = self.coordinator
        let outcome = try await eventLoop.submit {
            let endpoint = broker.configuration.endpoints[0]
            return ApiDispatcher.start(
                frame: frame, broker: broker, coordinator: coordinator, endpoint: endpoint, session: KafkaSession(securityProtocol: endpoint.securityProtocol),
                eventLoop: eventLoop, clientHost: "/127.0.0.1", logger: Logger(label: "test"))
        }.get()
        guard case .started(let started) = outcome, let response = started.response else { return nil }
        var bytes = ByteBuffer()
        // File ranges (records sent with sendfile) are read back in place, as the client would receive them.
        for part in try await response.get().parts {
            switch part {
            case .bytes(let part): bytes.writeImmutableBuffer(part)
            case .file(let file, let range): bytes.writeImmutableBuffer(try file.read(at: range.lowerBound, length: range.count))
            }
        }
        guard let size = bytes.readInteger(as: Int32.self), Int(size) == bytes.readableBytes, let correlationId = bytes.getInteger(at: bytes.readerIndex, as: Int32.self) else {
            throw FixtureError("a response frame with a wrong size")
        }
        return (correlationId, bytes)
    }

    /// Sends a request and decodes its response.
    func send(_ request: KafkaRequest, version: Int16, correlationId: Int32 = 7) async throws -> KafkaResponse? {
        var buffer = ByteBuffer()
        let header = RequestHeader(requestApiKey: request.apiKey.rawValue, requestApiVersion: version, correlationId: correlationId, clientId: "tests")
        try KafkaRequestFrame(header: header, body: request).encode(into: &buffer)
        buffer.moveReaderIndex(forwardBy: 4)
        guard var (_, body) = try await send(frame: buffer) else { return nil }
        _ = try ResponseHeader(from: &body, version: request.apiKey.responseHeaderVersion(for: version))
        return try KafkaResponse.decode(apiKey: request.apiKey, version: version, from: &body)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
