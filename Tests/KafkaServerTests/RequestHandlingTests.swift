import KafkaProtocol
@testable import KafkaServer
import NIOCore
import Testing

/// Requests through the real dispatcher and handlers against a broker on a temporary directory: the answers
/// Kafka gives where clients depend on them.
@Suite(.serialized) struct RequestHandlingTests {
    func produce(_ fixture: BrokerFixture, topic: String, batch: ByteBuffer, version: Int16 = 9) async throws -> ProduceResponse.PartitionProduceResponse {
        let request = ProduceRequest(acks: -1, timeoutMs: 30_000, topicData: [
            .init(name: topic, partitionData: [.init(index: 0, records: batch)]),
        ])
        guard case .produce(let response)? = try await fixture.send(.produce(request), version: version) else {
            throw FixtureError("no produce response")
        }
        return response.responses[0].partitionResponses[0]
    }

    func fetch(_ fixture: BrokerFixture, topic: String, offset: Int64) async throws -> FetchResponse.PartitionData {
        var partition = FetchRequest.FetchPartition()
        partition.partition = 0
        partition.fetchOffset = offset
        partition.partitionMaxBytes = 1 << 20
        var fetchTopic = FetchRequest.FetchTopic()
        fetchTopic.topic = topic
        fetchTopic.partitions = [partition]
        let request = FetchRequest(maxWaitMs: 0, minBytes: 0, topics: [fetchTopic])
        guard case .fetch(let response)? = try await fixture.send(.fetch(request), version: 11) else {
            throw FixtureError("no fetch response")
        }
        return response.responses[0].partitions[0]
    }

    func batch(_ values: [String], timestamps: [Int64]) throws -> ByteBuffer {
        var builder = RecordBatchBuilder()
        for (value, timestamp) in zip(values, timestamps) {
            builder.append(key: nil, value: ByteBuffer(string: value), timestamp: timestamp)
        }
        return try builder.build()
    }

    @Test func aBatchWithoutAMaxTimestampIsStoredWithTheRecordsMaximum() async throws {
        let fixture = try await BrokerFixture()
        // As sarama sends them: the header's max timestamp is -1 (the CRC matches the lie).
        var records = try batch(["a", "b"], timestamps: [1_700_000_000_500, 1_700_000_000_900])
        records.setInteger(Int64(-1), at: 35)
        var header = try RecordBatchHeader(from: records, at: 0)
        header.maxTimestamp = -1
        let crc = RecordBatch(header: header, bytes: records).computedChecksum
        records.setInteger(crc, at: RecordBatchHeader.crcOffset)
        // Enough of them to pass the index interval, where the old segment code trapped.
        for _ in 0..<100 {
            let answer = try await produce(fixture, topic: "sarama", batch: records)
            #expect(answer.errorCode == 0)
        }
        let fetched = try await fetch(fixture, topic: "sarama", offset: 0)
        var bytes = try #require(fetched.records)
        let stored = try RecordBatch.validatedBatches(in: &bytes)
        #expect(stored.count > 1)
        #expect(stored.allSatisfy { $0.header.maxTimestamp == 1_700_000_000_900 })
        await fixture.shutdown()
    }

    @Test func internalTopicsRefuseClientWrites() async throws {
        let fixture = try await BrokerFixture()
        _ = try fixture.broker.offsetsTopicLogs(creatingWith: 1, configs: ["cleanup.policy": "compact"])
        var builder = RecordBatchBuilder()
        builder.append(key: ByteBuffer(string: "forged"), value: ByteBuffer(string: "x"), timestamp: 1)
        let answer = try await produce(fixture, topic: "__consumer_offsets", batch: try builder.build())
        #expect(answer.errorCode == KafkaErrorCode.invalidTopicException.rawValue)
        #expect(fixture.broker.log(topic: "__consumer_offsets", partition: 0)?.offsets.logEndOffset == 0)
        await fixture.shutdown()
    }

    @Test func saslHandshakeIsAnsweredNotClosed() async throws {
        let fixture = try await BrokerFixture()
        guard case .saslHandshake(let response)? = try await fixture.send(.saslHandshake(SaslHandshakeRequest(mechanism: "PLAIN")), version: 1) else {
            Issue.record("the connection would be closed")
            await fixture.shutdown()
            return
        }
        #expect(response.errorCode == KafkaErrorCode.unsupportedSaslMechanism.rawValue)
        #expect(response.mechanisms.isEmpty)
        await fixture.shutdown()
    }

    @Test func aTransactionCoordinatorLookupFailsAtOnce() async throws {
        let fixture = try await BrokerFixture()
        let request = FindCoordinatorRequest(key: "tx-1", keyType: 1)
        guard case .findCoordinator(let response)? = try await fixture.send(.findCoordinator(request), version: 3) else {
            throw FixtureError("no FindCoordinator response")
        }
        // Not COORDINATOR_NOT_AVAILABLE, which clients retry for a minute.
        #expect(response.errorCode == KafkaErrorCode.clusterAuthorizationFailed.rawValue)
        #expect(response.errorMessage?.contains("Transactions are not supported") == true)
        await fixture.shutdown()
    }

    @Test func metadataWithTrailingBytesIsAnswered() async throws {
        let fixture = try await BrokerFixture()
        // librdkafka 2.16's Metadata v12 for all topics: header v2, then 7 body bytes of which 3 are extra.
        var frame = ByteBuffer()
        frame.writeInteger(Int16(3))
        frame.writeInteger(Int16(12))
        frame.writeInteger(Int32(42))
        frame.writeInteger(Int16(5))
        frame.writeString("rdkaf")
        frame.writeInteger(UInt8(0))
        frame.writeBytes([0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
        let answer = try await fixture.send(frame: frame)
        #expect(answer?.correlationId == 42)
        await fixture.shutdown()
    }
}
