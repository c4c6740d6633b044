// LeaveGroup (key 13), versions 0-5.
//
// Behavior: removes members; the rest rebalance (or the group becomes Empty). Unknown members get
// UNKNOWN_MEMBER_ID, a static member named with another member id FENCED_INSTANCE_ID.
// Version notes: v0-2 one member id; v3+ a batch of members (member id or group instance id) with a result
// each; v4+ flexible; v5+ a reason per member.
// Authorization (with the ACL authorizer): READ on the group, else GROUP_AUTHORIZATION_FAILED.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum LeaveGroupHandler {
    static func handle(_ request: LeaveGroupRequest, context: RequestContext) -> StartedRequest {
        let batched = context.version >= 3
        guard context.authorized(.read, .group, request.groupId) else {
            return context.serial(LeaveGroupResponse(throttleTimeMs: 0, errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue, members: []))
        }
        let leaving = batched
            ? request.members.map { ClassicGroup.LeavingMember(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId) }
            : [ClassicGroup.LeavingMember(memberId: request.memberId, groupInstanceId: nil)]
        let response = context.coordinator.leave(groupId: request.groupId, members: leaving).map { groupCode, codes -> LeaveGroupResponse in
            if !batched {
                return LeaveGroupResponse(throttleTimeMs: 0, errorCode: (groupCode != .noError ? groupCode : codes.first ?? .noError).rawValue)
            }
            let members = zip(leaving, codes).map { member, code in
                LeaveGroupResponse.MemberResponse(memberId: member.memberId, groupInstanceId: member.groupInstanceId, errorCode: code.rawValue)
            }
            return LeaveGroupResponse(throttleTimeMs: 0, errorCode: groupCode.rawValue, members: members)
        }
        return context.serial(response)
    }
}
