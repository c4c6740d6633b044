import Compression
import Coordinator
import Foundation
import KafkaProtocol
import LogStore
import Logging
import NIOCore
import NIOPosix
import Testing

/// The topic configs of Kafka 3.9 and 4.x: every one accepted with Kafka's default, refused values answered
/// with Kafka's INVALID_CONFIG messages (ConfigDef, LogConfig), and the honoured ones mapped onto the log.
@Suite struct TopicConfigsTests {
    /// Kafka 3.9's topic configs (its topic_config documentation): 4.x's 33 plus the three 3.9-only ones.
    static let kafkaNames: Set<String> = [
        "cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type", "compression.zstd.level",
        "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms", "follower.replication.throttled.replicas",
        "index.interval.bytes", "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
        "max.compaction.lag.ms", "max.message.bytes", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
        "message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
        "remote.log.copy.disable", "remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
        "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
        "message.format.version", "message.timestamp.difference.max.ms", "message.downconversion.enable",
    ]

    func problem(_ name: String, _ value: String) -> String? {
        TopicConfigs.problem(with: [name: value])
    }

    @Test func everyKafkaTopicConfigIsKnown() {
        #expect(Set(TopicConfigs.definitions.map(\.name)) == Self.kafkaNames)
        #expect(TopicConfigs.definitions.count == 36)
        #expect(Set(TopicConfigs.definitions.filter(\.removedInKafka4).map(\.name))
            == ["message.format.version", "message.timestamp.difference.max.ms", "message.downconversion.enable"])
    }

    @Test func everyConfigIsAcceptedWithItsKafkaDefault() {
        for definition in TopicConfigs.definitions {
            #expect(problem(definition.name, definition.kafkaDefault) == nil, "\(definition.name)=\(definition.kafkaDefault)")
        }
        #expect(TopicConfigs.problem(with: TopicConfigs.kafkaDefaults) == nil)
        // The broker's own defaults (what DescribeConfigs reports for topics without a value) pass too.
        #expect(TopicConfigs.problem(with: TopicConfigs.defaultValues(LogConfig())) == nil)
    }

    @Test func kafkasDefaultsAndTypesAreReported() {
        let defaults = TopicConfigs.kafkaDefaults
        #expect(defaults["compression.type"] == "producer")
        #expect(defaults["max.compaction.lag.ms"] == "9223372036854775807")
        #expect(defaults["message.format.version"] == "3.0-IV1")
        #expect(defaults["message.timestamp.after.max.ms"] == "9223372036854775807")
        #expect(defaults["local.retention.ms"] == "-2")
        #expect(defaults["min.cleanable.dirty.ratio"] == "0.5")
        #expect(defaults["leader.replication.throttled.replicas"] == "")
        #expect(TopicConfigs.definition(named: "cleanup.policy")?.type == .list)
        #expect(TopicConfigs.definition(named: "min.cleanable.dirty.ratio")?.type == .double)
        #expect(TopicConfigs.definition(named: "preallocate")?.type == .boolean)
        #expect(TopicConfigs.definition(named: "segment.bytes")?.type == .int)
        #expect(TopicConfigs.definition(named: "retention.ms")?.brokerSynonym == "log.retention.ms")
        #expect(TopicConfigs.definition(named: "max.message.bytes")?.brokerSynonym == "message.max.bytes")
        #expect(TopicConfigs.definition(named: "remote.storage.enable")?.brokerSynonym == nil)
        #expect(TopicConfigs.definition(forBrokerSynonym: "log.cleaner.max.compaction.lag.ms")?.name == "max.compaction.lag.ms")
        // Configs that change nothing here say so in their documentation.
        for definition in TopicConfigs.definitions where definition.handling == .accepted {
            #expect(definition.documentation.contains("no effect"), "\(definition.name)")
        }
    }

    @Test func unknownNamesAreRefusedFirst() {
        #expect(problem("no.such.config", "1") == "Unknown topic config name: no.such.config")
        #expect(TopicConfigs.problem(with: ["retention.ms": "x", "zzz": "1"]) == "Unknown topic config name: zzz")
        // Broker config names are not topic configs.
        #expect(problem("log.retention.ms", "1") == "Unknown topic config name: log.retention.ms")
    }

    @Test func compressionTypeTakesEveryKafkaCodec() {
        for codec in ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd", " lz4 "] {
            #expect(problem("compression.type", codec) == nil, "\(codec)")
        }
        #expect(problem("compression.type", "LZ4") == "Invalid value LZ4 for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
        // "none" is the producer's name for no compression, not a topic value.
        #expect(problem("compression.type", "none") == "Invalid value none for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
    }

    @Test func numbersAreParsedAndRangeCheckedAsKafkaDoes() {
        #expect(problem("segment.bytes", "abc") == "Invalid value abc for configuration segment.bytes: Not a number of type INT")
        #expect(problem("segment.bytes", "2147483648") == "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT")
        #expect(problem("segment.bytes", "13") == "Invalid value 13 for configuration segment.bytes: Value must be at least 14")
        #expect(problem("segment.bytes", " +14 ") == nil)
        #expect(problem("retention.ms", "-2") == "Invalid value -2 for configuration retention.ms: Value must be at least -1")
        #expect(problem("retention.ms", "1.5") == "Invalid value 1.5 for configuration retention.ms: Not a number of type LONG")
        #expect(problem("retention.bytes", "-12345") == nil)
        #expect(problem("max.compaction.lag.ms", "0") == "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1")
        #expect(problem("compression.lz4.level", "18") == "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17")
        #expect(problem("compression.zstd.level", "-131073") == "Invalid value -131073 for configuration compression.zstd.level: Value must be at least -131072")
        #expect(problem("compression.zstd.level", "-5") == nil)
        #expect(problem("compression.gzip.level", "0") == "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1")
        #expect(problem("compression.gzip.level", "10") == "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1")
        #expect(problem("compression.gzip.level", "-1") == nil)
        #expect(problem("min.insync.replicas", "0") == "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1")
        #expect(problem("local.retention.bytes", "-3") == "Invalid value -3 for configuration local.retention.bytes: Value must be at least -2")
    }

    @Test func doublesAreShownAsJavaPrintsThem() {
        #expect(problem("min.cleanable.dirty.ratio", "1.5") == "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1")
        #expect(problem("min.cleanable.dirty.ratio", "2") == "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1")
        #expect(problem("min.cleanable.dirty.ratio", "-1e-5") == "Invalid value -1.0E-5 for configuration min.cleanable.dirty.ratio: Value must be at least 0")
        #expect(problem("min.cleanable.dirty.ratio", "half") == "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE")
        #expect(problem("min.cleanable.dirty.ratio", "0.25d") == nil)
        // Java parses neither "nan" nor "inf"; NaN passes Kafka's range check.
        #expect(problem("min.cleanable.dirty.ratio", "nan") != nil)
        #expect(problem("min.cleanable.dirty.ratio", "NaN") == nil)
        #expect(problem("min.cleanable.dirty.ratio", "Infinity") == "Invalid value Infinity for configuration min.cleanable.dirty.ratio: Value must be no more than 1")
        #expect(KafkaConfigParsing.javaText(1e10) == "1.0E10")
        #expect(KafkaConfigParsing.javaText(12345.678) == "12345.678")
        #expect(KafkaConfigParsing.javaText(0.001) == "0.001")
        #expect(KafkaConfigParsing.javaText(1e7) == "1.0E7")
        #expect(KafkaConfigParsing.javaText(100) == "100.0")
    }

    @Test func booleansStringsAndListsFollowKafka() {
        #expect(problem("preallocate", "TRUE") == nil)
        #expect(problem("preallocate", "yes") == "Invalid value yes for configuration preallocate: Expected value to be either true or false")
        #expect(problem("message.timestamp.type", "createtime") == "Invalid value createtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime")
        #expect(problem("cleanup.policy", "compact, delete") == nil)
        #expect(problem("cleanup.policy", "") == nil)
        // A list is refused by its first bad element, as Kafka's ValidList does.
        #expect(problem("cleanup.policy", "compact,Delete") == "Invalid value Delete for configuration cleanup.policy: String must be one of: compact, delete")
        #expect(problem("leader.replication.throttled.replicas", "0:1, 1:1") == nil)
        #expect(problem("follower.replication.throttled.replicas", "*") == nil)
        #expect(problem("leader.replication.throttled.replicas", "0:1,x") == "Invalid value [0:1, x] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
    }

    @Test func messageFormatVersionTakesKafka39Versions() {
        for version in ["2.8", "2.8-IV1", "2.8.2", "0.10.2", "0.10.2-IV0", "0.10.2.1", "3.9", "3.0-IV1", "4.0-IV1"] {
            #expect(problem("message.format.version", version) == nil, "\(version)")
        }
        #expect(problem("message.format.version", "4.0") == "Invalid value 4.0 for configuration message.format.version: Version 4.0 is not a valid version")
        #expect(problem("message.format.version", "abc") == "Invalid value abc for configuration message.format.version: Version abc is not a valid version")
    }

    @Test func theFirstBadValueInKafkasOrderIsNamed() {
        // segment.bytes comes before retention.ms in Kafka's LogConfig.
        #expect(TopicConfigs.problem(with: ["retention.ms": "x", "segment.bytes": "y"]) == "Invalid value y for configuration segment.bytes: Not a number of type INT")
    }

    @Test func compactionLagsMustNotConflict() {
        #expect(TopicConfigs.problem(with: ["min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"])
            == "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)")
        #expect(TopicConfigs.problem(with: ["min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"]) == nil)
        // The broker's defaults take part, as in Kafka's LogConfig.validate.
        #expect(TopicConfigs.problem(with: ["max.compaction.lag.ms": "100"], brokerDefaults: ["min.compaction.lag.ms": "1000"])
            == "conflict topic config setting min.compaction.lag.ms (1000) > max.compaction.lag.ms (100)")
    }

    @Test func tieredStorageIsRefused() {
        #expect(problem("remote.storage.enable", "true") == "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")
        #expect(problem("remote.storage.enable", "false") == nil)
        #expect(problem("remote.log.copy.disable", "true") == nil)
    }

    @Test func honouredConfigsShapeTheLog() {
        var config = TopicConfigs.logConfig(overrides: ["compression.type": "lz4"], defaults: LogConfig())
        #expect(config.compression == .lz4(level: 9))
        config = TopicConfigs.logConfig(overrides: ["compression.type": "gzip", "compression.gzip.level": "7"], defaults: LogConfig())
        #expect(config.compression == .gzip(level: 7))
        config = TopicConfigs.logConfig(overrides: ["compression.type": "zstd"], defaults: LogConfig())
        #expect(config.compression == .zstd(level: 3))
        #expect(TopicConfigs.logConfig(overrides: ["compression.type": "uncompressed"], defaults: LogConfig()).compression == .uncompressed)
        #expect(TopicConfigs.logConfig(overrides: [:], defaults: LogConfig()).compression == .producer)

        config = TopicConfigs.logConfig(overrides: ["message.timestamp.after.max.ms": "60000"], defaults: LogConfig())
        #expect(TopicConfigs.timestampBounds(of: config) == (.max, 60_000))
        // Kafka 3.x: an unbounded before/after falls back to message.timestamp.difference.max.ms.
        config = TopicConfigs.logConfig(overrides: ["message.timestamp.difference.max.ms": "1000", "message.timestamp.before.max.ms": "5000"], defaults: LogConfig())
        #expect(TopicConfigs.timestampBounds(of: config) == (5000, 1000))

        config = TopicConfigs.logConfig(overrides: ["cleanup.policy": "compact", "max.compaction.lag.ms": "60000", "min.cleanable.dirty.ratio": "0.1"], defaults: LogConfig())
        #expect(config.cleanupPolicy == .compact && config.maxCompactionLagMilliseconds == 60_000 && config.minCleanableDirtyRatio == 0.1)
        // A compacted log rolls by max.compaction.lag.ms at the latest (Kafka's LogConfig.maxSegmentMs) ...
        #expect(config.segmentMilliseconds == 60_000)
        // ... a deleting one keeps segment.ms.
        #expect(TopicConfigs.logConfig(overrides: ["max.compaction.lag.ms": "60000"], defaults: LogConfig()).segmentMilliseconds == LogConfig().segmentMilliseconds)
        #expect(TopicConfigs.logConfig(overrides: ["cleanup.policy": ""], defaults: LogConfig()).cleanupPolicy == .neither)
        #expect(TopicConfigs.logConfig(overrides: ["cleanup.policy": "delete, compact"], defaults: LogConfig()).cleanupPolicy == .compactAndDelete)
        #expect(TopicConfigs.logConfig(overrides: ["segment.bytes": " 2048 "], defaults: LogConfig()).segmentBytes == 2048)
        #expect(TopicConfigs.logConfig(overrides: ["min.insync.replicas": "2"], defaults: LogConfig()).minInsyncReplicas == 2)

        // Accepted-only configs leave the log as it is.
        let accepted = ["preallocate": "true", "segment.jitter.ms": "10", "message.format.version": "2.8", "unclean.leader.election.enable": "true"]
        #expect(TopicConfigs.logConfig(overrides: accepted, defaults: LogConfig()) == LogConfig())
    }

    @Test func defaultsAreReportedForEveryConfig() {
        var defaults = LogConfig()
        defaults.retentionMilliseconds = 1000
        defaults.compression = .zstd(level: 5)
        let values = TopicConfigs.defaultValues(defaults)
        #expect(Set(values.keys) == Self.kafkaNames)
        #expect(values["retention.ms"] == "1000" && values["compression.type"] == "zstd" && values["compression.zstd.level"] == "5")
        #expect(values["flush.messages"] == "1")
    }

    @Test func compressionLevelsReachTheCodecs() throws {
        let input = Array(String(repeating: "tributary compresses this line again and again. ", count: 400).utf8)
        for (codec, levels) in [(CompressionCodec.gzip, [Int32(1), 9, -1]), (.lz4, [1, 9, 17]), (.zstd, [-5, 3, 19])] {
            for level in levels {
                let compressed = try Compressor.compress(input, codec: codec, level: level)
                #expect(try Compressor.decompress(compressed, codec: codec, maximumOutputBytes: 1 << 20) == input, "\(codec) level \(level)")
            }
        }
        // A higher level does not compress worse on repetitive text.
        let fast = try Compressor.compress(input, codec: .gzip, level: 1)
        let best = try Compressor.compress(input, codec: .gzip, level: 9)
        #expect(best.count <= fast.count)
        // zlib refuses levels outside its range rather than guessing.
        #expect(throws: CompressionError.self) { try Compressor.compress(input, codec: .gzip, level: 42) }
    }
}

/// The cleaner follows min.cleanable.dirty.ratio and max.compaction.lag.ms as Kafka's does.
@Suite struct CompactionConfigTests {
    let partition = TopicPartition(topic: "compacted-configs", partition: 0)

    func withLog(_ overrides: [String: String], _ body: (SegmentedLog) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "tributary-topicconfigs-\(UUID().uuidString)"
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let manager = LogManager(dataDirectory: directory, threadPool: threadPool, logger: Logger(label: "test"))
        func cleanUp() async {
            manager.shutdown()
            try? await threadPool.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: directory)
        }
        do {
            try manager.start()
            var defaults = LogConfig()
            defaults.segmentBytes = 400
            let config = TopicConfigs.logConfig(overrides: ["cleanup.policy": "compact"].merging(overrides) { _, given in given }, defaults: defaults)
            try await body(try manager.openLog(partition, config: config).log)
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }

    func append(_ log: SegmentedLog, key: String, value: String, timestamp: Int64) async throws {
        var builder = RecordBatchBuilder()
        builder.append(key: ByteBuffer(string: key), value: ByteBuffer(string: value), timestamp: timestamp)
        var bytes = try builder.build()
        _ = try await log.append(try RecordBatch.read(from: &bytes), durability: .durable)
    }

    @Test func aSmallDirtyShareWaitsForTheRatio() async throws {
        try await withLog([:]) { log in
            let now: Int64 = 1_700_000_000_000
            // Many keys written once: after the first pass most of the log is clean and stays.
            for key in 0..<40 { try await append(log, key: "k\(key)", value: "v", timestamp: now) }
            #expect((try log.compact(now: now)?.segmentsCleaned ?? 0) > 0, "everything is dirty at first")
            // A little new data (enough to close a segment) is far below the default ratio of 0.5: no pass.
            for key in 0..<8 { try await append(log, key: "k\(key)", value: "late", timestamp: now) }
            #expect((try log.compact(now: now)?.segmentsCleaned ?? 0) == 0)
            // With a lower min.cleanable.dirty.ratio the same log is compacted.
            log.update(config: TopicConfigs.logConfig(overrides: ["min.cleanable.dirty.ratio": "0.01"], defaults: log.currentConfig))
            #expect((try log.compact(now: now)?.segmentsCleaned ?? 0) > 0)
        }
    }

    @Test func maxCompactionLagCompactsOldDirtySegmentsBelowTheRatio() async throws {
        try await withLog(["max.compaction.lag.ms": "60000", "min.cleanable.dirty.ratio": "0.99"]) { log in
            let start: Int64 = 1_700_000_000_000
            for round in 0..<8 {
                for key in 0..<4 { try await append(log, key: "k\(key)", value: "v\(round)", timestamp: start) }
            }
            // At first everything is dirty: 100% is above 0.99, the first pass runs.
            #expect((try log.compact(now: start)?.segmentsCleaned ?? 0) > 0)
            for key in 0..<4 { try await append(log, key: "k\(key)", value: "late", timestamp: start + 1000) }
            for key in 0..<4 { try await append(log, key: "k\(key)", value: "later", timestamp: start + 2000) }
            // Dirty, far below 0.99, and younger than the lag: nothing.
            #expect((try log.compact(now: start + 30_000)?.segmentsCleaned ?? 0) == 0)
            // Once the dirty segment's first batch is older than max.compaction.lag.ms, it is compacted.
            #expect((try log.compact(now: start + 120_000)?.segmentsCleaned ?? 0) > 0)
        }
    }
}
