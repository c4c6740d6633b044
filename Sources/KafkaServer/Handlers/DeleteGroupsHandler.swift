// DeleteGroups (key 42), versions 0-2.
//
// Behavior: deletes empty groups with their committed offsets (tombstones in __consumer_offsets).
// A group with members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
// Version notes: v2 flexible.
// Authorization (with the ACL authorizer): DELETE on each group, else GROUP_AUTHORIZATION_FAILED for it.

import AccessControl
import KafkaProtocol
import NIOCore

enum DeleteGroupsHandler {
    static func handle(_ request: DeleteGroupsRequest, context: RequestContext) -> StartedRequest {
        let allowed = request.groupsNames.filter { context.authorized(.delete, .group, $0) }
        let refused = request.groupsNames.filter { !allowed.contains($0) }
        let response = context.coordinator.delete(groupIds: allowed).map { results in
            DeleteGroupsResponse(throttleTimeMs: 0, results: results.map { .init(groupId: $0.0, errorCode: $0.1.rawValue) }
                + refused.map { .init(groupId: $0, errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue) })
        }
        return context.serial(response)
    }
}
