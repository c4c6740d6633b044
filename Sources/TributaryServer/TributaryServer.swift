import Coordinator
import Foundation
import KafkaProtocol
import KafkaServer
import LogStore
public import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The whole server: storage, topics, the Kafka listener and background maintenance, run until SIGINT or
/// SIGTERM, then shut down cleanly (listeners closed, logs flushed, clean-shutdown marker written).
public enum TributaryServer {
    public static func run(configuration: ServerConfiguration, logger: Logger) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        // Blocking file I/O (appends, flushes, reads) runs here, never on the event loops.
        let threadPool = NIOThreadPool(numberOfThreads: max(4, System.coreCount * 2))
        threadPool.start()
        do {
            try await serve(configuration: configuration, group: group, threadPool: threadPool, logger: logger)
        } catch {
            try? await threadPool.shutdownGracefully()
            try? await group.shutdownGracefully()
            throw error
        }
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    static func serve(configuration: ServerConfiguration, group: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, logger: Logger) async throws {
        let clusterId = try ClusterIdentity.load(dataDirectory: configuration.dataDirectory, nodeId: configuration.nodeId, logger: logger)
        let logs = LogManager(dataDirectory: configuration.dataDirectory, threadPool: threadPool, logger: logger)
        let topics = TopicRegistry(dataDirectory: configuration.dataDirectory, logger: logger)
        var brokerConfiguration = BrokerConfiguration()
        brokerConfiguration.nodeId = configuration.nodeId
        brokerConfiguration.clusterId = clusterId
        brokerConfiguration.advertisedHost = configuration.advertisedAddress.host
        brokerConfiguration.advertisedPort = Int32(configuration.advertisedAddress.port)
        brokerConfiguration.dataDirectory = configuration.dataDirectory
        brokerConfiguration.autoCreateTopics = configuration.autoCreateTopics
        brokerConfiguration.defaultPartitions = configuration.defaultPartitions
        brokerConfiguration.maxRequestBytes = configuration.maxRequestBytes
        brokerConfiguration.connectionsMaxIdleMilliseconds = configuration.connectionsMaxIdleMilliseconds
        brokerConfiguration.logDefaults = configuration.logDefaults
        brokerConfiguration.retentionCheckIntervalMilliseconds = configuration.retentionCheckIntervalMilliseconds
        let broker = Broker(configuration: brokerConfiguration, topics: topics, logs: logs, threadPool: threadPool,
                            coordinatorEventLoop: group.next(), groupSettings: configuration.groupSettings, logger: logger)

        logger.info("starting tributary", metadata: configuration.summary)
        let startedAt = ContinuousClock.now
        let reports = try await broker.start()
        for report in reports {
            logger.info("recovered partition", metadata: [
                "partition": "\(report.topicPartition)", "segmentsChecked": "\(report.segments.count)",
                "truncatedBytes": "\(report.truncatedBytes)", "deletedSegments": "\(report.deletedSegments)",
            ])
        }
        let partitionCount = logs.allLogs.count
        logger.info("logs loaded", metadata: [
            "partitions": "\(partitionCount)", "topics": "\(topics.allTopics.count)",
            "previousShutdown": "\(logs.previousShutdownWasClean ? "clean" : "unclean")",
            "milliseconds": "\((ContinuousClock.now - startedAt).milliseconds)",
        ])

        let listener = KafkaListener(broker: broker, group: group, logger: logger)
        let kafka = KafkaService(listener: listener, address: configuration.kafkaListen)
        let maintenance = MaintenanceService(broker: broker, configuration: configuration, logger: logger)
        let services = ServiceGroup(
            configuration: .init(
                services: [.init(service: kafka), .init(service: maintenance)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await services.run()
        } catch {
            logger.error("a service failed; shutting down", metadata: ["error": "\(error)"])
            await listener.stop()
            await broker.shutdown()
            throw error
        }
        await broker.shutdown()
        logger.info("tributary stopped")
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Runs the Kafka listener until graceful shutdown.
struct KafkaService: Service {
    let listener: KafkaListener
    let address: HostPort

    func run() async throws {
        _ = try await listener.start(host: address.host, port: address.port)
        // Serve until the service group asks to stop, then close the listener and its connections.
        try? await gracefulShutdown()
        await listener.stop()
    }
}

/// Periodic log maintenance: interval flushes, checkpoints, and retention.
struct MaintenanceService: Service {
    let broker: Broker
    let configuration: ServerConfiguration
    let logger: Logger

    func run() async throws {
        let tick: Int64 = 1_000
        var sinceRetention: Int64 = 0
        var sinceCheckpoint: Int64 = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(tick)) }
            } catch {
                break
            }
            sinceRetention += tick
            sinceCheckpoint += tick
            let retention = sinceRetention >= configuration.retentionCheckIntervalMilliseconds
            if retention { sinceRetention = 0 }
            if retention || sinceCheckpoint >= configuration.checkpointIntervalMilliseconds {
                sinceCheckpoint = 0
                let broker = self.broker
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    broker.threadPool.submit { _ in
                        broker.runMaintenance(retention: retention)
                        continuation.resume()
                    }
                }
            } else {
                broker.logs.runIntervalFlushes()
            }
        }
    }
}

/// The cluster id, created on first start and kept in `meta.properties` as Kafka keeps it.
enum ClusterIdentity {
    static func load(dataDirectory: String, nodeId: Int32, logger: Logger) throws -> String {
        try FileSystem.createDirectory(dataDirectory)
        let path = dataDirectory + "/meta.properties"
        if FileSystem.exists(path) {
            let text = String(decoding: try FileSystem.readAll(path), as: UTF8.self)
            var properties: [String: String] = [:]
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { properties[String(parts[0])] = String(parts[1]) }
            }
            guard let clusterId = properties["cluster.id"], !clusterId.isEmpty else {
                throw ConfigurationError("\(path) has no cluster.id")
            }
            if let stored = properties["node.id"], stored != String(nodeId) {
                throw ConfigurationError("\(path) belongs to node \(stored), but this server is node \(nodeId)")
            }
            return clusterId
        }
        let clusterId = KafkaUUID.random().description
        let contents = "#Written by tributary on first start\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\n"
        try FileSystem.writeAtomically(Array(contents.utf8), to: path)
        logger.info("new data directory", metadata: ["clusterId": "\(clusterId)", "path": "\(dataDirectory)"])
        return clusterId
    }
}
