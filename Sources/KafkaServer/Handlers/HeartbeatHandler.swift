// Heartbeat (key 12), versions 0-4.
//
// Behavior: keeps a member's session alive. REBALANCE_IN_PROGRESS tells it to rejoin; ILLEGAL_GENERATION
// and UNKNOWN_MEMBER_ID that it was removed or is behind; FENCED_INSTANCE_ID that another member took its
// group.instance.id.
// Version notes: v3+ group instance id; v4 flexible.
// Authorization (with the ACL authorizer): READ on the group, else GROUP_AUTHORIZATION_FAILED.

import AccessControl
import KafkaProtocol
import NIOCore

enum HeartbeatHandler {
    static func handle(_ request: HeartbeatRequest, context: RequestContext) -> StartedRequest {
        guard context.authorized(.read, .group, request.groupId) else {
            return context.serial(HeartbeatResponse(throttleTimeMs: 0, errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue))
        }
        let response = context.coordinator.heartbeat(groupId: request.groupId, memberId: request.memberId, generationId: request.generationId,
                                                     groupInstanceId: request.groupInstanceId)
            .map { HeartbeatResponse(throttleTimeMs: 0, errorCode: $0.rawValue) }
        return context.serial(response)
    }
}
