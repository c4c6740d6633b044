public import KafkaProtocol
public import LogStore
public import NIOCore

/// A committed offset as a group stores it.
public struct CommittedOffset: Sendable, Equatable {
    public var offset: Int64
    public var leaderEpoch: Int32
    public var metadata: String
    public var commitTimestamp: Int64

    public init(offset: Int64, leaderEpoch: Int32, metadata: String, commitTimestamp: Int64) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestamp = commitTimestamp
    }
}

/// A group's metadata as the coordinator persists it (after each rebalance and when the group empties).
public struct StoredGroup: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var rebalanceTimeoutMilliseconds: Int32
        public var sessionTimeoutMilliseconds: Int32
        public var subscription: ByteBuffer
        public var assignment: ByteBuffer

        public init(memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, rebalanceTimeoutMilliseconds: Int32,
                    sessionTimeoutMilliseconds: Int32, subscription: ByteBuffer, assignment: ByteBuffer) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.rebalanceTimeoutMilliseconds = rebalanceTimeoutMilliseconds
            self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
            self.subscription = subscription
            self.assignment = assignment
        }
    }

    public var protocolType: String
    public var generationId: Int32
    public var protocolName: String?
    public var leaderId: String?
    public var stateTimestamp: Int64
    public var members: [Member]

    public init(protocolType: String, generationId: Int32, protocolName: String?, leaderId: String?, stateTimestamp: Int64, members: [Member]) {
        self.protocolType = protocolType
        self.generationId = generationId
        self.protocolName = protocolName
        self.leaderId = leaderId
        self.stateTimestamp = stateTimestamp
        self.members = members
    }
}

/// The records of `__consumer_offsets`, in Apache Kafka's formats so that Kafka tools can read them:
/// offset commits (key version 1: group, topic, partition; value version 3: offset, leader epoch,
/// metadata, commit timestamp) and group metadata (key version 2: group; value version 3). A null value is
/// a tombstone.
public enum OffsetsTopicRecord: Sendable, Equatable {
    case offset(group: String, partition: TopicPartition, CommittedOffset?)
    case group(String, StoredGroup?)

    public static let topicName = "__consumer_offsets"
    /// The longest string the records hold: their strings have int16 lengths.
    public static let maximumStringBytes = Int(Int16.max)

    /// Kafka's placement of a group: `abs(groupId.hashCode) % partitions` with Java's String.hashCode.
    public static func partition(for groupId: String, partitionCount: Int32) -> Int32 {
        var hash: Int32 = 0
        for unit in groupId.utf16 { hash = 31 &* hash &+ Int32(unit) }
        return (hash & 0x7FFF_FFFF) % partitionCount
    }

    public var key: ByteBuffer {
        var key = ByteBuffer()
        switch self {
        case .offset(let group, let partition, _):
            key.writeInteger(Int16(1))
            writeString(group, into: &key)
            writeString(partition.topic, into: &key)
            key.writeInteger(partition.partition)
        case .group(let group, _):
            key.writeInteger(Int16(2))
            writeString(group, into: &key)
        }
        return key
    }

    public var value: ByteBuffer? {
        switch self {
        case .offset(_, _, nil), .group(_, nil):
            return nil
        case .offset(_, _, let committed?):
            var value = ByteBuffer()
            value.writeInteger(Int16(3))
            value.writeInteger(committed.offset)
            value.writeInteger(committed.leaderEpoch)
            writeString(committed.metadata, into: &value)
            value.writeInteger(committed.commitTimestamp)
            return value
        case .group(_, let group?):
            var value = ByteBuffer()
            value.writeInteger(Int16(3))
            writeString(group.protocolType, into: &value)
            value.writeInteger(group.generationId)
            writeNullableString(group.protocolName, into: &value)
            writeNullableString(group.leaderId, into: &value)
            value.writeInteger(group.stateTimestamp)
            value.writeInteger(Int32(group.members.count))
            for member in group.members {
                writeString(member.memberId, into: &value)
                writeNullableString(member.groupInstanceId, into: &value)
                writeString(member.clientId, into: &value)
                writeString(member.clientHost, into: &value)
                value.writeInteger(member.rebalanceTimeoutMilliseconds)
                value.writeInteger(member.sessionTimeoutMilliseconds)
                value.writeInteger(Int32(member.subscription.readableBytes))
                value.writeImmutableBuffer(member.subscription)
                value.writeInteger(Int32(member.assignment.readableBytes))
                value.writeImmutableBuffer(member.assignment)
            }
            return value
        }
    }

    /// Decodes a record; nil for key versions this broker does not use (transaction markers and the like).
    public static func decode(key: ByteBuffer, value: ByteBuffer?) throws(KafkaDecodingError) -> OffsetsTopicRecord? {
        var key = key
        let version = try key.readKafkaInt16(field: "OffsetsTopicKey.Version")
        switch version {
        case 0, 1:
            let group = try key.readKafkaString(compact: false, field: "OffsetCommitKey.Group")
            let topic = try key.readKafkaString(compact: false, field: "OffsetCommitKey.Topic")
            let partition = try key.readKafkaInt32(field: "OffsetCommitKey.Partition")
            guard var value else { return .offset(group: group, partition: TopicPartition(topic: topic, partition: partition), nil) }
            let valueVersion = try value.readKafkaInt16(field: "OffsetCommitValue.Version")
            let offset = try value.readKafkaInt64(field: "OffsetCommitValue.Offset")
            let leaderEpoch = valueVersion >= 3 ? try value.readKafkaInt32(field: "OffsetCommitValue.LeaderEpoch") : -1
            let metadata = try value.readKafkaString(compact: false, field: "OffsetCommitValue.Metadata")
            let timestamp = try value.readKafkaInt64(field: "OffsetCommitValue.CommitTimestamp")
            return .offset(group: group, partition: TopicPartition(topic: topic, partition: partition),
                           CommittedOffset(offset: offset, leaderEpoch: leaderEpoch, metadata: metadata, commitTimestamp: timestamp))
        case 2:
            let group = try key.readKafkaString(compact: false, field: "GroupMetadataKey.Group")
            guard var value else { return .group(group, nil) }
            let valueVersion = try value.readKafkaInt16(field: "GroupMetadataValue.Version")
            guard valueVersion == 3 else {
                throw KafkaDecodingError(field: "GroupMetadataValue.Version", problem: .invalidValue("version \(valueVersion) is not written by this broker"))
            }
            let protocolType = try value.readKafkaString(compact: false, field: "GroupMetadataValue.ProtocolType")
            let generation = try value.readKafkaInt32(field: "GroupMetadataValue.Generation")
            let protocolName = try value.readKafkaNullableString(compact: false, field: "GroupMetadataValue.Protocol")
            let leader = try value.readKafkaNullableString(compact: false, field: "GroupMetadataValue.Leader")
            let timestamp = try value.readKafkaInt64(field: "GroupMetadataValue.CurrentStateTimestamp")
            let count = try value.readKafkaInt32(field: "GroupMetadataValue.Members")
            guard count >= 0, Int(count) <= value.readableBytes else {
                throw KafkaDecodingError(field: "GroupMetadataValue.Members", problem: .lengthExceedsFrame(length: Int64(count), availableBytes: value.readableBytes))
            }
            var members: [StoredGroup.Member] = []
            for _ in 0..<count {
                let memberId = try value.readKafkaString(compact: false, field: "MemberMetadata.MemberId")
                let instance = try value.readKafkaNullableString(compact: false, field: "MemberMetadata.GroupInstanceId")
                let clientId = try value.readKafkaString(compact: false, field: "MemberMetadata.ClientId")
                let clientHost = try value.readKafkaString(compact: false, field: "MemberMetadata.ClientHost")
                let rebalance = try value.readKafkaInt32(field: "MemberMetadata.RebalanceTimeout")
                let session = try value.readKafkaInt32(field: "MemberMetadata.SessionTimeout")
                let subscription = try value.readKafkaBytes(compact: false, field: "MemberMetadata.Subscription")
                let assignment = try value.readKafkaBytes(compact: false, field: "MemberMetadata.Assignment")
                members.append(.init(memberId: memberId, groupInstanceId: instance, clientId: clientId, clientHost: clientHost,
                                     rebalanceTimeoutMilliseconds: rebalance, sessionTimeoutMilliseconds: session, subscription: subscription, assignment: assignment))
            }
            return .group(group, StoredGroup(protocolType: protocolType, generationId: generation, protocolName: protocolName, leaderId: leader, stateTimestamp: timestamp, members: members))
        default:
            return nil
        }
    }
}

/// Writes an int16-length string. Callers keep stored strings within `maximumStringBytes` (requests with
/// longer ones are refused); a longer one would be cut at a character boundary rather than trap.
private func writeString(_ text: String, into buffer: inout ByteBuffer) {
    var utf8 = Array(text.utf8)
    if utf8.count > OffsetsTopicRecord.maximumStringBytes {
        var end = OffsetsTopicRecord.maximumStringBytes
        while end > 0 && utf8[end] & 0xC0 == 0x80 { end -= 1 }
        utf8.removeSubrange(end...)
    }
    buffer.writeInteger(Int16(utf8.count))
    buffer.writeBytes(utf8)
}

private func writeNullableString(_ text: String?, into buffer: inout ByteBuffer) {
    guard let text else {
        buffer.writeInteger(Int16(-1))
        return
    }
    writeString(text, into: &buffer)
}
