import Coordinator
import KafkaProtocol
import LogStore
import Testing

/// Start-up reconciliation between the topic registry and the partition directories: it completes the
/// registry from disk and never plans a deletion.
@Suite struct TopicReconciliationTests {
    let idA = KafkaUUID("AAAAAAAAAAAAAAAAAAAAAQ")!
    let idB = KafkaUUID("BBBBBBBBBBBBBBBBBBBBBQ")!
    let fresh = KafkaUUID("CCCCCCCCCCCCCCCCCCCCCQ")!

    func directory(_ topic: String, _ partition: Int32, _ id: KafkaUUID?) -> PartitionDirectory {
        PartitionDirectory(topicPartition: TopicPartition(topic: topic, partition: partition), topicId: id)
    }

    @Test func aLostRegistryIsRebuiltFromTheDirectories() {
        let plan = TopicReconciliation.plan(registry: [], directories: [
            directory("orders", 0, idA), directory("orders", 1, idA), directory("orders", 2, idA),
            directory("__consumer_offsets", 0, idB),
        ], newTopicId: { fresh })
        #expect(plan == [
            .adoptTopic(name: "__consumer_offsets", topicId: idB, partitions: 1),
            .adoptTopic(name: "orders", topicId: idA, partitions: 3),
        ])
    }

    @Test func directoriesWithoutMetadataAreAdoptedUnderTheRegistrysOrAFreshId() {
        let registry = [TopicMetadata(name: "known", topicId: idA, partitionCount: 1, configs: [:])]
        let plan = TopicReconciliation.plan(registry: registry, directories: [
            directory("known", 0, nil), directory("unknown", 0, nil),
        ], newTopicId: { fresh })
        #expect(plan.contains(.recordTopicId(TopicPartition(topic: "known", partition: 0), idA)))
        #expect(plan.contains(.adoptTopic(name: "unknown", topicId: fresh, partitions: 1)))
        #expect(plan.contains(.recordTopicId(TopicPartition(topic: "unknown", partition: 0), fresh)))
    }

    @Test func aContradictingTopicIdIsMovedAsideNotDeleted() {
        let registry = [TopicMetadata(name: "t", topicId: idA, partitionCount: 2, configs: [:])]
        let plan = TopicReconciliation.plan(registry: registry, directories: [directory("t", 0, idA), directory("t", 1, idB)])
        #expect(plan == [.moveAside(TopicPartition(topic: "t", partition: 1), found: idB, expected: idA)])
    }

    @Test func partitionsBeyondTheRegistrysCountAreKept() {
        let registry = [TopicMetadata(name: "t", topicId: idA, partitionCount: 2, configs: [:])]
        let plan = TopicReconciliation.plan(registry: registry, directories: [directory("t", 0, idA), directory("t", 3, idA)])
        #expect(plan == [.extendTopic(name: "t", partitions: 4)])
    }

    @Test func agreementPlansNothing() {
        let registry = [TopicMetadata(name: "t", topicId: idA, partitionCount: 2, configs: [:])]
        #expect(TopicReconciliation.plan(registry: registry, directories: [directory("t", 0, idA), directory("t", 1, idA)]).isEmpty)
    }
}
