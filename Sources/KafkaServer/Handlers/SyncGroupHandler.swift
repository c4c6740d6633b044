// SyncGroup (key 14), versions 0-5.
//
// Behavior: members wait until the leader sends the assignment, then each gets its own bytes exactly as
// the leader sent them. A stale generation gets ILLEGAL_GENERATION, an unknown member UNKNOWN_MEMBER_ID,
// a group rebalancing again REBALANCE_IN_PROGRESS.
// Version notes: v3+ group instance id; v4+ flexible; v5+ protocol type and name, checked against the
// group's (INCONSISTENT_GROUP_PROTOCOL) and returned.
// Authorization (with the ACL authorizer): READ on the group, else GROUP_AUTHORIZATION_FAILED.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum SyncGroupHandler {
    static func handle(_ request: SyncGroupRequest, context: RequestContext) -> StartedRequest {
        let version = context.version
        guard context.authorized(.read, .group, request.groupId) else {
            return context.serial(SyncGroupResponse(
                throttleTimeMs: 0, errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue, protocolType: nil, protocolName: nil, assignment: ByteBuffer()))
        }
        var assignments: [String: ByteBuffer] = [:]
        for assignment in request.assignments { assignments[assignment.memberId] = assignment.assignment }
        let response = context.coordinator.sync(
            groupId: request.groupId, memberId: request.memberId, generationId: request.generationId, groupInstanceId: request.groupInstanceId,
            protocolType: version >= 5 ? request.protocolType : nil, protocolName: version >= 5 ? request.protocolName : nil, assignments: assignments
        ).map { result in
            SyncGroupResponse(throttleTimeMs: 0, errorCode: result.errorCode.rawValue,
                              protocolType: version >= 5 ? result.protocolType : nil, protocolName: version >= 5 ? result.protocolName : nil,
                              assignment: result.assignment)
        }
        return StartedRequest(ready: context.eventLoop.makeSucceededVoidFuture(), response: context.encode(response))
    }
}
