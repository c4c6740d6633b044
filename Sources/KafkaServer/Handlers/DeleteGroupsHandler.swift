// DeleteGroups (key 42), versions 0-2.
//
// Behavior: deletes empty groups with their committed offsets (tombstones in __consumer_offsets).
// A group with members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
// Version notes: v2 flexible.

import KafkaProtocol
import NIOCore

enum DeleteGroupsHandler {
    static func handle(_ request: DeleteGroupsRequest, context: RequestContext) -> StartedRequest {
        let response = context.coordinator.delete(groupIds: request.groupsNames).map { results in
            DeleteGroupsResponse(throttleTimeMs: 0, results: results.map { .init(groupId: $0.0, errorCode: $0.1.rawValue) })
        }
        return context.serial(response)
    }
}
