@testable import Coordinator
import KafkaProtocol
import LogStore
import NIOCore
import Testing

@Suite struct OffsetsTopicRecordTests {
    @Test func placesGroupsAsKafkaDoes() {
        // Java: "test".hashCode() == 3556498; 3556498 % 50 == 48. A negative hash keeps its low 31 bits.
        #expect(OffsetsTopicRecord.partition(for: "test", partitionCount: 50) == 48)
        #expect(OffsetsTopicRecord.partition(for: "", partitionCount: 50) == 0)
        let negative = "polygenelubricants"  // hashCode == Int32.min
        #expect(OffsetsTopicRecord.partition(for: negative, partitionCount: 50) == 0)
    }

    @Test func offsetCommitRecordsUseKafkasLayout() throws {
        let record = OffsetsTopicRecord.offset(group: "g", partition: TopicPartition(topic: "t", partition: 3),
                                               CommittedOffset(offset: 42, leaderEpoch: 0, metadata: "m", commitTimestamp: 1_700_000_000_000))
        var expectedKey = ByteBuffer()
        expectedKey.writeBytes([0, 1, 0, 1, 0x67, 0, 1, 0x74, 0, 0, 0, 3])
        #expect(record.key == expectedKey)
        var expectedValue = ByteBuffer()
        expectedValue.writeInteger(Int16(3))
        expectedValue.writeInteger(Int64(42))
        expectedValue.writeInteger(Int32(0))
        expectedValue.writeBytes([0, 1, 0x6D])
        expectedValue.writeInteger(Int64(1_700_000_000_000))
        #expect(record.value == expectedValue)
        #expect(try OffsetsTopicRecord.decode(key: record.key, value: record.value) == record)
        let tombstone = OffsetsTopicRecord.offset(group: "g", partition: TopicPartition(topic: "t", partition: 3), nil)
        #expect(try OffsetsTopicRecord.decode(key: tombstone.key, value: nil) == tombstone)
    }

    @Test func groupMetadataRoundTrips() throws {
        let group = StoredGroup(protocolType: "consumer", generationId: 4, protocolName: "range", leaderId: "m1", stateTimestamp: 9, members: [
            .init(memberId: "m1", groupInstanceId: "i1", clientId: "c", clientHost: "/127.0.0.1", rebalanceTimeoutMilliseconds: 300, sessionTimeoutMilliseconds: 45,
                  subscription: ByteBuffer(string: "sub"), assignment: ByteBuffer(string: "assign")),
        ])
        let record = OffsetsTopicRecord.group("g", group)
        #expect(try OffsetsTopicRecord.decode(key: record.key, value: record.value) == record)
        #expect(try OffsetsTopicRecord.decode(key: record.key, value: nil) == .group("g", nil))
    }
}
