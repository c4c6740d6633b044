@testable import Coordinator
import KafkaProtocol
import NIOCore
import Testing

/// Drives a ClassicGroup the way the coordinator does, collecting the answers its actions carry.
struct GroupHarness {
    var group = ClassicGroup(groupId: "g", now: 0)
    var settings: GroupSettings
    var now: Int64 = 1_000
    var nextToken: RequestToken = 0
    var joins: [RequestToken: JoinResult] = [:]
    var syncs: [RequestToken: SyncResult] = [:]
    var persisted = 0

    init(initialDelay: Int64 = 0) {
        settings = GroupSettings()
        settings.initialRebalanceDelayMilliseconds = initialDelay
    }

    mutating func apply(_ actions: [GroupAction]) {
        for action in actions {
            switch action {
            case .completeJoin(let token, let result): joins[token] = result
            case .completeSync(let token, let result): syncs[token] = result
            case .persist: persisted += 1
            }
        }
    }

    static func protocols(_ names: [String] = ["range"]) -> [ClassicGroup.SupportedProtocol] {
        names.map { ClassicGroup.SupportedProtocol(name: $0, metadata: ByteBuffer(string: "meta-\($0)")) }
    }

    mutating func join(_ memberId: String = "", instance: String? = nil, protocolType: String = "consumer", protocols: [ClassicGroup.SupportedProtocol] = protocols(),
                       session: Int32 = 10_000, rebalance: Int32 = 30_000, requireKnown: Bool = true) -> RequestToken {
        nextToken += 1
        let request = ClassicGroup.JoinRequest(
            memberId: memberId, groupInstanceId: instance, clientId: "client", clientHost: "/127.0.0.1",
            rebalanceTimeoutMilliseconds: rebalance, sessionTimeoutMilliseconds: session, protocolType: protocolType,
            protocols: protocols, requireKnownMemberId: requireKnown, supportsSkipAssignment: true)
        apply(group.join(request, token: nextToken, settings: settings, now: now))
        return nextToken
    }

    /// The MEMBER_ID_REQUIRED round trip of JoinGroup v4+, then the real join.
    mutating func joinNew(instance: String? = nil, protocols: [ClassicGroup.SupportedProtocol] = protocols()) -> (memberId: String, token: RequestToken) {
        if instance != nil {
            let token = join(instance: instance, protocols: protocols)
            return (joins[token]?.memberId ?? group.staticMembers[instance!]!, token)
        }
        let first = join(protocols: protocols)
        let result = joins[first]!
        precondition(result.errorCode == .memberIdRequired)
        return (result.memberId, join(result.memberId, protocols: protocols))
    }

    mutating func sync(_ memberId: String, generation: Int32, assignments: [String: ByteBuffer] = [:], instance: String? = nil) -> RequestToken {
        nextToken += 1
        apply(group.sync(memberId: memberId, generationId: generation, groupInstanceId: instance, protocolType: nil, protocolName: nil,
                         assignments: assignments, token: nextToken, now: now))
        return nextToken
    }

    mutating func tick(advance: Int64) {
        now += advance
        apply(group.tick(settings: settings, now: now))
    }
}

@Suite struct ClassicGroupTests {
    @Test func oneMemberJoinsSyncsAndBecomesStable() {
        var harness = GroupHarness()
        let (member, token) = harness.joinNew()
        let join = harness.joins[token]!
        #expect(join.errorCode == .noError)
        #expect(join.generationId == 1 && join.leaderId == member && join.protocolName == "range")
        #expect(join.members.map(\.memberId) == [member])
        #expect(join.members.first?.metadata == ByteBuffer(string: "meta-range"))
        #expect(harness.group.state == .completingRebalance)
        let sync = harness.sync(member, generation: 1, assignments: [member: ByteBuffer(string: "p0,p1")])
        #expect(harness.syncs[sync] == SyncResult(errorCode: .noError, protocolType: "consumer", protocolName: "range", assignment: ByteBuffer(string: "p0,p1")))
        #expect(harness.group.state == .stable)
        #expect(harness.persisted >= 1)
        #expect(harness.group.heartbeat(memberId: member, generationId: 1, groupInstanceId: nil, now: harness.now) == .noError)
    }

    @Test func joinsWaitForEveryMemberAndFollowersGetTheLeadersAssignment() {
        var harness = GroupHarness()
        let (first, _) = harness.joinNew()
        _ = harness.sync(first, generation: 1, assignments: [first: ByteBuffer(string: "all")])
        // A second member arrives: the group rebalances and the first must rejoin before anyone gets an answer.
        let (second, secondJoin) = harness.joinNew()
        #expect(harness.joins[secondJoin] == nil)
        #expect(harness.group.state == .preparingRebalance)
        #expect(harness.group.heartbeat(memberId: first, generationId: 1, groupInstanceId: nil, now: harness.now) == .rebalanceInProgress)
        let rejoin = harness.join(first)
        #expect(harness.joins[rejoin]!.generationId == 2)
        #expect(harness.joins[secondJoin]!.generationId == 2)
        #expect(harness.joins[rejoin]!.leaderId == first, "the leader stays the leader")
        #expect(harness.joins[rejoin]!.members.count == 2 && harness.joins[secondJoin]!.members.isEmpty)
        // The follower's SyncGroup waits for the leader's.
        let followerSync = harness.sync(second, generation: 2)
        #expect(harness.syncs[followerSync] == nil)
        _ = harness.sync(first, generation: 2, assignments: [first: ByteBuffer(string: "a"), second: ByteBuffer(string: "b")])
        #expect(harness.syncs[followerSync]!.assignment == ByteBuffer(string: "b"))
    }

    @Test func initialRebalanceDelayGathersMembers() {
        var harness = GroupHarness(initialDelay: 3_000)
        let (first, firstJoin) = harness.joinNew()
        harness.tick(advance: 1_000)
        let (_, secondJoin) = harness.joinNew()
        #expect(harness.joins[firstJoin] == nil && harness.joins[secondJoin] == nil)
        harness.tick(advance: 3_100)
        #expect(harness.joins[firstJoin]?.members.count == 2)
        #expect(harness.joins[firstJoin]?.leaderId == first)
    }

    @Test func rebalanceTimeoutRemovesMembersThatDoNotRejoin() {
        var harness = GroupHarness()
        let (first, _) = harness.joinNew()
        _ = harness.sync(first, generation: 1, assignments: [:])
        let (second, secondJoin) = harness.joinNew()
        _ = harness.sync(first, generation: 1)
        // The first member never rejoins; after its rebalance timeout the second gets a generation alone.
        harness.tick(advance: 31_000)
        let result = harness.joins[secondJoin]!
        #expect(result.errorCode == .noError && result.leaderId == second && result.members.map(\.memberId) == [second])
        #expect(harness.group.member(first) == nil)
    }

    @Test func expiredSessionsTriggerARebalance() {
        var harness = GroupHarness()
        let (first, _) = harness.joinNew()
        _ = harness.sync(first, generation: 1, assignments: [:])
        harness.tick(advance: 5_000)
        #expect(harness.group.state == .stable)
        harness.tick(advance: 6_000)
        #expect(harness.group.member(first) == nil)
        #expect(harness.group.state == .empty)
        #expect(harness.group.heartbeat(memberId: first, generationId: 1, groupInstanceId: nil, now: harness.now) == .unknownMemberId)
    }

    @Test func leaveGroupRebalancesTheRest() {
        var harness = GroupHarness()
        let (first, _) = harness.joinNew()
        let (second, secondJoin) = harness.joinNew()
        _ = harness.join(first)
        #expect(harness.joins[secondJoin]?.generationId == 2)
        let (codes, actions) = harness.group.leave([.init(memberId: second, groupInstanceId: nil), .init(memberId: "nobody", groupInstanceId: nil)], settings: harness.settings, now: harness.now)
        harness.apply(actions)
        #expect(codes == [.noError, .unknownMemberId])
        #expect(harness.group.state == .preparingRebalance)
        let rejoin = harness.join(first)
        #expect(harness.joins[rejoin]?.generationId == 3 && harness.joins[rejoin]?.members.count == 1)
    }

    @Test func staticMemberComesBackWithoutARebalance() {
        var harness = GroupHarness()
        let (dynamic, _) = harness.joinNew()
        let staticMember = harness.joinNew(instance: "instance-1")
        _ = harness.join(dynamic)
        let generation = harness.group.generationId
        _ = harness.sync(dynamic, generation: generation, assignments: [dynamic: ByteBuffer(string: "d"), staticMember.memberId: ByteBuffer(string: "s")])
        _ = harness.sync(staticMember.memberId, generation: generation)
        #expect(harness.group.state == .stable)
        // The static member restarts: a new connection, an empty member id, the same instance id.
        let rejoin = harness.join(instance: "instance-1")
        let result = harness.joins[rejoin]!
        #expect(result.errorCode == .noError && result.generationId == generation)
        #expect(harness.group.state == .stable, "the others keep their assignment")
        let sync = harness.sync(result.memberId, generation: generation, instance: "instance-1")
        #expect(harness.syncs[sync]?.assignment == ByteBuffer(string: "s"))
        // The old member id is fenced (Kafka judges a static member by its instance id first), in every
        // request it may still send: it must fail with FENCED_INSTANCE_ID, not retake the identity.
        #expect(harness.group.heartbeat(memberId: staticMember.memberId, generationId: generation, groupInstanceId: "instance-1", now: harness.now) == .fencedInstanceId)
        #expect(harness.syncs[harness.sync(staticMember.memberId, generation: generation, instance: "instance-1")]?.errorCode == .fencedInstanceId)
        #expect(harness.joins[harness.join(staticMember.memberId, instance: "instance-1")]?.errorCode == .fencedInstanceId)
        #expect(harness.group.validateCurrentMember(result.memberId, groupInstanceId: "instance-1") == nil)
        #expect(harness.group.validateCurrentMember("anyone", groupInstanceId: "instance-unknown") == .unknownMemberId)
        #expect(harness.group.heartbeat(memberId: dynamic, generationId: generation, groupInstanceId: "instance-1", now: harness.now) == .fencedInstanceId)
    }

    @Test func badRequestsGetKafkasErrors() {
        var harness = GroupHarness()
        let (member, _) = harness.joinNew()
        _ = harness.sync(member, generation: 1, assignments: [:])
        #expect(harness.joins[harness.join(protocolType: "connect")]?.errorCode == .inconsistentGroupProtocol)
        #expect(harness.joins[harness.join(protocols: GroupHarness.protocols(["roundrobin"]))]?.errorCode == .inconsistentGroupProtocol)
        #expect(harness.joins[harness.join(protocols: [])]?.errorCode == .inconsistentGroupProtocol)
        #expect(harness.joins[harness.join(session: 100)]?.errorCode == .invalidSessionTimeout)
        #expect(harness.joins[harness.join("unknown-member")]?.errorCode == .unknownMemberId)
        #expect(harness.syncs[harness.sync(member, generation: 0)]?.errorCode == .illegalGeneration)
        #expect(harness.syncs[harness.sync("unknown-member", generation: 1)]?.errorCode == .unknownMemberId)
        #expect(harness.group.heartbeat(memberId: member, generationId: 7, groupInstanceId: nil, now: harness.now) == .illegalGeneration)
    }

    @Test func protocolChosenByVotesAmongCommonOnes() {
        var harness = GroupHarness(initialDelay: 100)
        _ = harness.joinNew(protocols: GroupHarness.protocols(["cooperative-sticky", "range"]))
        _ = harness.joinNew(protocols: GroupHarness.protocols(["range", "cooperative-sticky"]))
        _ = harness.joinNew(protocols: GroupHarness.protocols(["range"]))
        harness.tick(advance: 200)
        #expect(harness.group.protocolName == "range")
    }

    @Test func pendingMemberIdsExpire() {
        var harness = GroupHarness()
        let token = harness.join()
        let pending = harness.joins[token]!.memberId
        #expect(harness.group.pendingMembers[pending] != nil)
        harness.tick(advance: 11_000)
        #expect(harness.group.pendingMembers[pending] == nil)
        #expect(harness.joins[harness.join(pending)]?.errorCode == .unknownMemberId)
    }

    @Test func onlyAnEmptyGroupCanBeDeleted() {
        var harness = GroupHarness()
        let (member, _) = harness.joinNew()
        #expect(harness.group.markDead(now: harness.now) == .nonEmptyGroup)
        harness.apply(harness.group.leave([.init(memberId: member, groupInstanceId: nil)], settings: harness.settings, now: harness.now).actions)
        #expect(harness.group.markDead(now: harness.now) == .noError)
        #expect(harness.group.state == .dead)
    }
}
