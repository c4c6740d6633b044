import BenchHarness
import KafkaClient
import KafkaProtocol
import NIOCore
import NIOPosix

/// The bench's Kafka connections: the main package's minimal client (framing, correlation ids).
typealias KafkaBenchConnection = KafkaClientConnection

/// The request versions the bench sends: supported by Tributary and by Apache Kafka 3.x and 4.x.
enum KafkaVersions {
    static let produce: Int16 = 9
    static let fetch: Int16 = 12
    static let metadata: Int16 = 9
    static let createTopics: Int16 = 7
    static let listOffsets: Int16 = 7
    static let findCoordinator: Int16 = 3
    static let joinGroup: Int16 = 7
    static let syncGroup: Int16 = 5
    static let heartbeat: Int16 = 4
    static let leaveGroup: Int16 = 4
    static let apiVersions: Int16 = 3
}

/// Request helpers shared by the Kafka workloads.
extension KafkaBenchConnection {
    /// Creates `topic` with `partitions` partitions (an existing topic with that many is accepted) and waits
    /// until metadata lists all of its partitions with a leader.
    func ensureTopic(_ topic: String, partitions: Int) -> EventLoopFuture<Void> {
        var request = CreateTopicsRequest()
        var creatable = CreateTopicsRequest.CreatableTopic()
        creatable.name = topic
        creatable.numPartitions = Int32(partitions)
        creatable.replicationFactor = -1
        request.topics = [creatable]
        request.timeoutMs = 30_000
        return send(.createTopics(request), version: KafkaVersions.createTopics).flatMapThrowing { response in
            guard case .createTopics(let body) = response, let result = body.topics.first else {
                throw BenchFailure("unexpected CreateTopics response")
            }
            // 36 TOPIC_ALREADY_EXISTS is fine when it has the partitions asked for (checked by metadata below).
            guard result.errorCode == 0 || result.errorCode == 36 else {
                throw BenchFailure("CreateTopics \(topic): error \(result.errorCode) \(result.errorMessage ?? "")")
            }
        }.flatMap { self.partitionCount(topic) }.flatMapThrowing { count in
            guard count == partitions else {
                throw BenchFailure("topic \(topic) has \(count) partitions, the run asks for \(partitions)")
            }
        }
    }

    /// The number of partitions of `topic` with a leader, per metadata (0 if it does not exist).
    func partitionCount(_ topic: String) -> EventLoopFuture<Int> {
        var request = MetadataRequest()
        var wanted = MetadataRequest.MetadataRequestTopic()
        wanted.name = topic
        request.topics = [wanted]
        request.allowAutoTopicCreation = false
        return send(.metadata(request), version: KafkaVersions.metadata).flatMapThrowing { response in
            guard case .metadata(let body) = response else { throw BenchFailure("unexpected Metadata response") }
            guard let entry = body.topics.first(where: { $0.name == topic }), entry.errorCode == 0 else { return 0 }
            return entry.partitions.filter { $0.errorCode == 0 && $0.leaderId >= 0 }.count
        }
    }

    /// ListOffsets for every partition: `timestamp` -1 latest, -2 earliest.
    func offsets(_ topic: String, partitions: Int, timestamp: Int64) -> EventLoopFuture<[Int64]> {
        var request = ListOffsetsRequest()
        request.replicaId = -1
        var entry = ListOffsetsRequest.ListOffsetsTopic()
        entry.name = topic
        entry.partitions = (0..<partitions).map { index in
            var partition = ListOffsetsRequest.ListOffsetsPartition()
            partition.partitionIndex = Int32(index)
            partition.timestamp = timestamp
            return partition
        }
        request.topics = [entry]
        return send(.listOffsets(request), version: KafkaVersions.listOffsets).flatMapThrowing { response in
            guard case .listOffsets(let body) = response, let topicResponse = body.topics.first else {
                throw BenchFailure("unexpected ListOffsets response")
            }
            var offsets = [Int64](repeating: 0, count: partitions)
            for partition in topicResponse.partitions {
                guard partition.errorCode == 0 else {
                    throw BenchFailure("ListOffsets \(topic)-\(partition.partitionIndex): error \(partition.errorCode)")
                }
                if Int(partition.partitionIndex) < partitions { offsets[Int(partition.partitionIndex)] = partition.offset }
            }
            return offsets
        }
    }

    /// The broker's software name/version is not in the Kafka protocol; ApiVersions tells the API ranges.
    /// Returns the highest Produce and Fetch versions, for the run's record.
    func apiVersionSummary() -> EventLoopFuture<String> {
        send(.apiVersions(ApiVersionsRequest()), version: 0).map { response in
            guard case .apiVersions(let body) = response else { return "unknown" }
            let produce = body.apiKeys.first { $0.apiKey == KafkaApiKey.produce.rawValue }?.maxVersion ?? -1
            let fetch = body.apiKeys.first { $0.apiKey == KafkaApiKey.fetch.rawValue }?.maxVersion ?? -1
            return "Produce v\(produce), Fetch v\(fetch)"
        }
    }
}
