import KafkaProtocol
import NIOCore
import Testing

/// Byte layouts written out by hand from the Kafka protocol guide and the schemas, field by field, so that
/// the generated encoder and decoder are checked against something they did not produce themselves.
@Suite struct GoldenBytesTests {
    func check<Message: KafkaMessage>(_ value: Message, version: Int16, _ expected: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var encoded = ByteBuffer()
        try value.encode(into: &encoded, version: version)
        #expect(encoded == expected, "encoded \(encoded.hexDump)\nexpected \(expected.hexDump)", sourceLocation: sourceLocation)
        var input = expected
        let decoded = try Message(from: &input, version: version)
        #expect(input.readableBytes == 0, sourceLocation: sourceLocation)
        #expect(decoded == value, sourceLocation: sourceLocation)
    }

    static let records = hex("de ad be ef")

    // MARK: ApiVersions

    @Test func apiVersionsRequest() throws {
        try check(ApiVersionsRequest(), version: 0, hex(""))
        let named = ApiVersionsRequest(clientSoftwareName: "tests", clientSoftwareVersion: "1.0")
        let flexible = hex("""
            06 "tests"      # compact string: length + 1
            04 "1.0"
            00              # no tagged fields
            """)
        try check(named, version: 3, flexible)
        try check(named, version: 4, flexible)
    }

    @Test func apiVersionsResponse() throws {
        let keys = [
            ApiVersionsResponse.ApiVersion(apiKey: 0, minVersion: 0, maxVersion: 11),
            ApiVersionsResponse.ApiVersion(apiKey: 18, minVersion: 0, maxVersion: 4),
        ]
        try check(ApiVersionsResponse(errorCode: 0, apiKeys: keys), version: 0, hex("""
            0000                    # error code
            00000002                # array length
            0000 0000 000b          # Produce 0-11
            0012 0000 0004          # ApiVersions 0-4
            """))
        try check(ApiVersionsResponse(errorCode: 0, apiKeys: keys, throttleTimeMs: 0, finalizedFeaturesEpoch: 5), version: 3, hex("""
            0000                    # error code
            03                      # compact array: 2 + 1
            0000 0000 000b 00       # Produce 0-11, no tagged fields
            0012 0000 0004 00
            00000000                # throttle time
            01                      # one tagged field
            01 08 0000000000000005  # tag 1 FinalizedFeaturesEpoch, 8 bytes
            """))
        let features = [ApiVersionsResponse.SupportedFeatureKey(name: "kraft.version", minVersion: 0, maxVersion: 1)]
        try check(ApiVersionsResponse(errorCode: 35, apiKeys: keys, throttleTimeMs: 7, supportedFeatures: features, finalizedFeaturesEpoch: 5), version: 4, hex("""
            0023                    # UNSUPPORTED_VERSION
            03
            0000 0000 000b 00
            0012 0000 0004 00
            00000007
            02                      # two tagged fields, ascending tags
            00 14                   # tag 0 SupportedFeatures, 20 bytes:
              02 0e "kraft.version" 0000 0001 00
            01 08 0000000000000005  # tag 1 FinalizedFeaturesEpoch
            """))
    }

    // MARK: Metadata

    @Test func metadataRequest() throws {
        let topic = MetadataRequest.MetadataRequestTopic(name: "t1")
        try check(MetadataRequest(topics: [topic]), version: 1, hex("""
            00000001 0002 "t1"
            """))
        try check(MetadataRequest(topics: nil), version: 1, hex("ffffffff  # null: all topics"))
        try check(MetadataRequest(topics: [topic], allowAutoTopicCreation: true), version: 9, hex("""
            02 03 "t1" 00   # compact array of one topic, its tagged fields
            01              # allow auto topic creation
            00              # include cluster authorized operations (8-10)
            00              # include topic authorized operations
            00              # tagged fields
            """))
        let withId = MetadataRequest.MetadataRequestTopic(topicId: KafkaUUID(high: 0x0102030405060708, low: 0x090a0b0c0d0e0f10), name: "t1")
        try check(MetadataRequest(topics: [withId], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: true), version: 12, hex("""
            02
            0102030405060708 090a0b0c0d0e0f10   # topic id
            03 "t1" 00
            00 01 00
            """))
    }

    @Test func metadataResponse() throws {
        let broker = MetadataResponse.MetadataResponseBroker(nodeId: 0, host: "localhost", port: 9092, rack: nil)
        let partition = MetadataResponse.MetadataResponsePartition(errorCode: 0, partitionIndex: 0, leaderId: 0, leaderEpoch: 0, replicaNodes: [0], isrNodes: [0], offlineReplicas: [])
        let topic = MetadataResponse.MetadataResponseTopic(errorCode: 0, name: "t1", isInternal: false, partitions: [partition])
        var v1Partition = partition
        v1Partition.leaderEpoch = -1
        var v1Topic = topic
        v1Topic.partitions = [v1Partition]
        try check(MetadataResponse(brokers: [broker], controllerId: 0, topics: [v1Topic]), version: 1, hex("""
            00000001                                 # brokers
              00000000 0009 "localhost" 00002384     # node 0, localhost:9092
              ffff                                   # rack: null
            00000000                                 # controller id
            00000001                                 # topics
              0000 0002 "t1" 00                      # error, name, is internal
              00000001                               # partitions
                0000 00000000 00000000               # error, index, leader
                00000001 00000000                    # replicas [0]
                00000001 00000000                    # isr [0]
            """))
        var v9Topic = topic
        v9Topic.topicAuthorizedOperations = Int32.min
        try check(MetadataResponse(throttleTimeMs: 0, brokers: [broker], clusterId: "c1", controllerId: 0, topics: [v9Topic], clusterAuthorizedOperations: Int32.min), version: 9, hex("""
            00000000                                 # throttle time
            02 00000000 0a "localhost" 00002384 00 00   # one broker, rack null, tagged fields
            03 "c1"                                  # cluster id
            00000000                                 # controller id
            02                                       # one topic
              0000 03 "t1" 00
              02 0000 00000000 00000000 00000000     # one partition: error, index, leader, leader epoch
                 02 00000000 02 00000000 01 00       # replicas, isr, offline replicas [], tagged fields
              80000000                               # topic authorized operations
              00
            80000000                                 # cluster authorized operations
            00
            """))
        var v12Topic = v9Topic
        v12Topic.topicId = KafkaUUID(high: 1, low: 2)
        try check(MetadataResponse(throttleTimeMs: 0, brokers: [broker], clusterId: "c1", controllerId: 0, topics: [v12Topic]), version: 12, hex("""
            00000000
            02 00000000 0a "localhost" 00002384 00 00
            03 "c1"
            00000000
            02
              0000 03 "t1"
              0000000000000001 0000000000000002      # topic id
              00
              02 0000 00000000 00000000 00000000 02 00000000 02 00000000 01 00
              80000000
              00
            00                                       # no cluster authorized operations since v11
            """))
    }

    // MARK: Produce

    @Test func produceRequest() throws {
        let request = ProduceRequest(transactionalId: nil, acks: -1, timeoutMs: 30000, topicData: [
            .init(name: "t1", partitionData: [.init(index: 0, records: Self.records)]),
        ])
        try check(request, version: 3, hex("""
            ffff                      # transactional id: null
            ffff                      # acks -1
            00007530                  # timeout 30000 ms
            00000001 0002 "t1"
              00000001 00000000
                00000004 deadbeef     # records as bytes
            """))
        try check(request, version: 9, hex("""
            00 ffff 00007530
            02 03 "t1"
              02 00000000 05 deadbeef 00
              00
            00
            """))
    }

    @Test func produceResponse() throws {
        let partition = ProduceResponse.PartitionProduceResponse(index: 0, errorCode: 0, baseOffset: 5, logAppendTimeMs: -1, logStartOffset: 0)
        var v3Partition = partition
        v3Partition.logStartOffset = -1
        try check(ProduceResponse(responses: [.init(name: "t1", partitionResponses: [v3Partition])], throttleTimeMs: 0), version: 3, hex("""
            00000001 0002 "t1"
              00000001 00000000 0000 0000000000000005 ffffffffffffffff
            00000000
            """))
        try check(ProduceResponse(responses: [.init(name: "t1", partitionResponses: [partition])], throttleTimeMs: 0), version: 9, hex("""
            02 03 "t1"
              02 00000000 0000 0000000000000005 ffffffffffffffff
                 0000000000000000     # log start offset
                 01                   # record errors: empty
                 00                   # error message: null
                 00
              00
            00000000
            00
            """))
    }

    // MARK: Fetch

    static func fetchRequest(topicId: KafkaUUID = .zero, topic: String = "t1") -> FetchRequest {
        FetchRequest(
            maxWaitMs: 500, minBytes: 1, maxBytes: 0x7fff_ffff, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
            topics: [.init(topic: topic, topicId: topicId, partitions: [
                .init(partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1_048_576),
            ])],
            forgottenTopicsData: [], rackId: ""
        )
    }

    @Test func fetchRequest() throws {
        try check(Self.fetchRequest(), version: 4, hex("""
            ffffffff 000001f4 00000001 7fffffff 00   # replica, max wait, min bytes, max bytes, isolation
            00000001 0002 "t1"
              00000001 00000000 0000000000000000 00100000
            """))
        try check(Self.fetchRequest(), version: 11, hex("""
            ffffffff 000001f4 00000001 7fffffff 00
            00000000 ffffffff                        # session id, epoch
            00000001 0002 "t1"
              00000001 00000000 ffffffff 0000000000000000 ffffffffffffffff 00100000
            00000000                                 # forgotten topics
            0000                                     # rack id ""
            """))
        try check(Self.fetchRequest(), version: 12, hex("""
            ffffffff 000001f4 00000001 7fffffff 00 00000000 ffffffff
            02 03 "t1"
              02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff 00100000 00
              00
            01                                       # forgotten topics: empty
            01                                       # rack id ""
            00                                       # tagged fields: ClusterId null, omitted
            """))
        let id = KafkaUUID(high: 0xaaaa_aaaa_aaaa_aaaa, low: 0x5555_5555_5555_5555)
        try check(Self.fetchRequest(topicId: id, topic: ""), version: 13, hex("""
            ffffffff 000001f4 00000001 7fffffff 00 00000000 ffffffff
            02 aaaaaaaaaaaaaaaa 5555555555555555
              02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff 00100000 00
              00
            01 01 00
            """))
        var clustered = Self.fetchRequest(topicId: id, topic: "")
        clustered.clusterId = "k"
        try check(clustered, version: 13, hex("""
            ffffffff 000001f4 00000001 7fffffff 00 00000000 ffffffff
            02 aaaaaaaaaaaaaaaa 5555555555555555
              02 00000000 ffffffff 0000000000000000 ffffffff ffffffffffffffff 00100000 00
              00
            01 01
            01 00 02 02 "k"                          # tag 0 ClusterId: compact string "k"
            """))
    }

    @Test func fetchResponse() throws {
        func response(topicId: KafkaUUID = .zero, topic: String = "t1", leader: FetchResponse.LeaderIdAndEpoch = .init()) -> FetchResponse {
            FetchResponse(throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [
                .init(topic: topic, topicId: topicId, partitions: [
                    .init(partitionIndex: 0, errorCode: 0, highWatermark: 10, lastStableOffset: 10, logStartOffset: 0,
                          currentLeader: leader, abortedTransactions: nil, preferredReadReplica: -1, records: Self.records),
                ]),
            ])
        }
        var v4 = response()
        v4.responses[0].partitions[0].logStartOffset = -1
        try check(v4, version: 4, hex("""
            00000000                                 # throttle time
            00000001 0002 "t1"
              00000001 00000000 0000
                000000000000000a 000000000000000a    # high watermark, last stable offset
                ffffffff                             # aborted transactions: null
                00000004 deadbeef
            """))
        try check(response(), version: 11, hex("""
            00000000 0000 00000000                   # throttle, error, session id
            00000001 0002 "t1"
              00000001 00000000 0000 000000000000000a 000000000000000a
                0000000000000000                     # log start offset
                ffffffff                             # aborted transactions: null
                ffffffff                             # preferred read replica
                00000004 deadbeef
            """))
        let leader = FetchResponse.LeaderIdAndEpoch(leaderId: 0, leaderEpoch: 5)
        try check(response(leader: leader), version: 12, hex("""
            00000000 0000 00000000
            02 03 "t1"
              02 00000000 0000 000000000000000a 000000000000000a 0000000000000000
                 00                                  # aborted: null
                 ffffffff
                 05 deadbeef                         # records
                 01 01 09 00000000 00000005 00       # tag 1 CurrentLeader {0, 5}
              00
            00
            """))
        try check(response(topicId: KafkaUUID(high: 7, low: 8), topic: ""), version: 13, hex("""
            00000000 0000 00000000
            02 0000000000000007 0000000000000008
              02 00000000 0000 000000000000000a 000000000000000a 0000000000000000 00 ffffffff 05 deadbeef 00
              00
            00
            """))
    }

    // MARK: JoinGroup

    @Test func joinGroupRequest() throws {
        let protocols = [JoinGroupRequest.JoinGroupRequestProtocol(name: "range", metadata: hex("010203"))]
        var v0 = JoinGroupRequest(groupId: "g1", sessionTimeoutMs: 10000, memberId: "", protocolType: "consumer", protocols: protocols)
        try check(v0, version: 0, hex("""
            0002 "g1" 00002710 0000 0008 "consumer"
            00000001 0005 "range" 00000003 010203
            """))
        v0.rebalanceTimeoutMs = 60000
        try check(v0, version: 5, hex("""
            0002 "g1" 00002710 0000ea60 0000
            ffff                                     # group instance id: null
            0008 "consumer"
            00000001 0005 "range" 00000003 010203
            """))
        v0.groupInstanceId = "i1"
        try check(v0, version: 9, hex("""
            03 "g1" 00002710 0000ea60 01
            03 "i1"
            09 "consumer"
            02 06 "range" 04 010203 00
            00                                       # reason: null
            00
            """))
    }

    @Test func joinGroupResponse() throws {
        let members = [JoinGroupResponse.JoinGroupResponseMember(memberId: "m1", groupInstanceId: nil, metadata: hex("010203"))]
        try check(JoinGroupResponse(errorCode: 0, generationId: 1, protocolName: "range", leader: "m1", memberId: "m1", members: members), version: 0, hex("""
            0000 00000001 0005 "range" 0002 "m1" 0002 "m1"
            00000001 0002 "m1" 00000003 010203
            """))
        try check(JoinGroupResponse(throttleTimeMs: 0, errorCode: 0, generationId: 1, protocolType: "consumer", protocolName: "range", leader: "m1", skipAssignment: false, memberId: "m1", members: members), version: 9, hex("""
            00000000 0000 00000001
            09 "consumer" 06 "range" 03 "m1"
            00                                       # skip assignment
            03 "m1"
            02 03 "m1" 00 04 010203 00
            00
            """))
    }

    // MARK: Headers

    @Test func headers() throws {
        try check(RequestHeader(requestApiKey: 18, requestApiVersion: 3, correlationId: 7, clientId: "kcat"), version: 2, hex("""
            0012 0003 00000007 0004 "kcat"          # client id stays a non-compact string in v2
            00
            """))
        try check(RequestHeader(requestApiKey: 3, requestApiVersion: 1, correlationId: 1, clientId: nil), version: 1, hex("0003 0001 00000001 ffff"))
        try check(ResponseHeader(correlationId: 7), version: 1, hex("00000007 00"))
        #expect(KafkaApiKey.apiVersions.responseHeaderVersion(for: 4) == 0)
        #expect(KafkaApiKey.produce.requestHeaderVersion(for: 9) == 2)
        #expect(KafkaApiKey.produce.requestHeaderVersion(for: 8) == 1)
        #expect(KafkaApiKey.fetch.responseHeaderVersion(for: 12) == 1)
    }

    @Test func encodingAFieldAVersionCannotCarryIsAnError() {
        var request = JoinGroupRequest(groupId: "g", memberId: "", protocolType: "consumer")
        request.groupInstanceId = "static"
        var buffer = ByteBuffer()
        #expect(throws: KafkaEncodingError(field: "JoinGroupRequest.GroupInstanceId", version: 4, problem: .nonDefaultValueUnsupported)) {
            try request.encode(into: &buffer, version: 4)
        }
    }
}
