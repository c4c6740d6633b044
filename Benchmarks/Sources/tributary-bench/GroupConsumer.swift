import BenchHarness
import KafkaProtocol
import NIOCore

/// One member of a consumer group joined the way the Java consumer does with the classic protocol:
/// FindCoordinator, JoinGroup (again with the member id the coordinator hands out), SyncGroup with the
/// leader's range assignment, heartbeats while fetching, LeaveGroup at the end.
final class GroupMember: @unchecked Sendable {
    let connection: KafkaBenchConnection
    let group: String
    var memberId = ""
    var generation: Int32 = -1
    var partitions: [Int] = []

    init(connection: KafkaBenchConnection, group: String) {
        self.connection = connection
        self.group = group
    }

    func heartbeat() {
        var request = HeartbeatRequest()
        request.groupId = group
        request.generationId = generation
        request.memberId = memberId
        _ = connection.send(.heartbeat(request), version: KafkaVersions.heartbeat)
    }

    func leave() -> EventLoopFuture<Void> {
        connection.eventLoop.flatSubmit {
            var request = LeaveGroupRequest()
            request.groupId = self.group
            var member = LeaveGroupRequest.MemberIdentity()
            member.memberId = self.memberId
            request.members = [member]
            return self.connection.send(.leaveGroup(request), version: KafkaVersions.leaveGroup).map { _ in () }
        }
    }
}

/// ConsumerProtocolSubscription v0: topics, no user data.
func subscriptionMetadata(topic: String) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int16(0))
    buffer.writeInteger(Int32(1))
    buffer.writeInteger(Int16(topic.utf8.count))
    buffer.writeString(topic)
    buffer.writeInteger(Int32(-1))
    return buffer
}

/// ConsumerProtocolAssignment v0.
func assignmentBytes(topic: String, partitions: [Int]) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int16(0))
    buffer.writeInteger(Int32(1))
    buffer.writeInteger(Int16(topic.utf8.count))
    buffer.writeString(topic)
    buffer.writeInteger(Int32(partitions.count))
    for partition in partitions { buffer.writeInteger(Int32(partition)) }
    buffer.writeInteger(Int32(-1))
    return buffer
}

func parseAssignment(_ bytes: ByteBuffer, topic: String) throws -> [Int] {
    var buffer = bytes
    guard buffer.readableBytes > 0 else { return [] }
    guard let _ = buffer.readInteger(as: Int16.self), let topics = buffer.readInteger(as: Int32.self) else {
        throw BenchFailure("malformed ConsumerProtocolAssignment")
    }
    var partitions: [Int] = []
    for _ in 0..<max(0, topics) {
        guard let length = buffer.readInteger(as: Int16.self), let name = buffer.readString(length: Int(length)),
              let count = buffer.readInteger(as: Int32.self) else { throw BenchFailure("malformed ConsumerProtocolAssignment") }
        for _ in 0..<max(0, count) {
            guard let partition = buffer.readInteger(as: Int32.self) else { throw BenchFailure("malformed ConsumerProtocolAssignment") }
            if name == topic { partitions.append(Int(partition)) }
        }
    }
    return partitions
}

/// Joins every connection to `group` (all at once, as a rebalance of N members) and returns the members
/// with their assignments.
func joinGroup(run: BenchRun, connections: [KafkaBenchConnection], group: String, topic: String, partitions: Int) throws -> [GroupMember] {
    var find = FindCoordinatorRequest()
    find.key = group
    find.keyType = 0
    let coordinator = try connections[0].eventLoop.flatSubmit { connections[0].send(.findCoordinator(find), version: KafkaVersions.findCoordinator) }.wait("FindCoordinator")
    if case .findCoordinator(let body) = coordinator, body.errorCode != 0 {
        throw BenchFailure("FindCoordinator \(group): error \(body.errorCode) \(body.errorMessage ?? "")")
    }
    let members = connections.map { GroupMember(connection: $0, group: group) }

    func join(_ member: GroupMember) -> EventLoopFuture<JoinGroupResponse> {
        member.connection.eventLoop.flatSubmit {
            var request = JoinGroupRequest()
            request.groupId = group
            request.sessionTimeoutMs = 30_000
            request.rebalanceTimeoutMs = 60_000
            request.memberId = member.memberId
            request.protocolType = "consumer"
            var range = JoinGroupRequest.JoinGroupRequestProtocol()
            range.name = "range"
            range.metadata = subscriptionMetadata(topic: topic)
            request.protocols = [range]
            return member.connection.send(.joinGroup(request), version: KafkaVersions.joinGroup).flatMapThrowing { response in
                guard case .joinGroup(let body) = response else { throw BenchFailure("unexpected JoinGroup response") }
                return body
            }
        }
    }

    // First JoinGroup: the coordinator answers MEMBER_ID_REQUIRED (79) with the id to rejoin with.
    let first = members.map { member in join(member) }
    for (member, future) in zip(members, first) {
        let body = try future.wait("JoinGroup")
        if body.errorCode == 79 {
            member.memberId = body.memberId
        } else if body.errorCode != 0 {
            throw BenchFailure("JoinGroup \(group): error \(body.errorCode)")
        } else {
            member.memberId = body.memberId
            member.generation = body.generationId
        }
    }
    let second = members.map { member in join(member) }
    var leaderResponse: JoinGroupResponse?
    for (member, future) in zip(members, second) {
        let body = try future.wait("JoinGroup")
        guard body.errorCode == 0 else { throw BenchFailure("JoinGroup \(group): error \(body.errorCode)") }
        member.memberId = body.memberId
        member.generation = body.generationId
        if body.leader == body.memberId { leaderResponse = body }
    }
    guard let leader = leaderResponse else { throw BenchFailure("JoinGroup \(group): no member was told it leads") }
    let memberIds = leader.members.map(\.memberId).sorted()
    let ranges = rangeAssignment(partitions: partitions, members: memberIds.count)
    let syncs = members.map { member in
        member.connection.eventLoop.flatSubmit {
            var request = SyncGroupRequest()
            request.groupId = group
            request.generationId = member.generation
            request.memberId = member.memberId
            request.protocolType = "consumer"
            request.protocolName = "range"
            if member.memberId == leader.leader {
                request.assignments = memberIds.enumerated().map { index, id in
                    var assignment = SyncGroupRequest.SyncGroupRequestAssignment()
                    assignment.memberId = id
                    assignment.assignment = assignmentBytes(topic: topic, partitions: ranges[index])
                    return assignment
                }
            }
            return member.connection.send(.syncGroup(request), version: KafkaVersions.syncGroup)
        }
    }
    for (member, future) in zip(members, syncs) {
        guard case .syncGroup(let body) = try future.wait("SyncGroup") else { throw BenchFailure("unexpected SyncGroup response") }
        guard body.errorCode == 0 else { throw BenchFailure("SyncGroup \(group): error \(body.errorCode)") }
        member.partitions = try parseAssignment(body.assignment, topic: topic)
    }
    let assigned = members.flatMap(\.partitions).sorted()
    guard assigned == Array(0..<partitions) else {
        throw BenchFailure("the group's assignment covers partitions \(assigned), not 0..<\(partitions)")
    }
    return members
}
