// ListGroups (key 16), versions 0-5.
//
// Behavior: every group the coordinator knows (including groups that only store offsets, which are
// Empty), with protocol type and (v4+) state; filters by state (v4+, case-insensitive) and type (v5+;
// every group here is "classic").
// Version notes: v3+ flexible; v4+ states; v5+ types.
// Authorization (with the ACL authorizer): DESCRIBE on the cluster lists every group; otherwise only the
// groups the principal may DESCRIBE.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum ListGroupsHandler {
    static func handle(_ request: ListGroupsRequest, context: RequestContext) -> StartedRequest {
        let version = context.version
        let states = Set(request.statesFilter.map { $0.lowercased() })
        let types = Set(request.typesFilter.map { $0.lowercased() })
        let everyGroup = context.authorizedOnCluster(.describe, quietly: true)
        let response = context.coordinator.list().map { groups in
            ListGroupsResponse(throttleTimeMs: 0, errorCode: 0, groups: groups.filter { group in
                (everyGroup || context.authorized(.describe, .group, group.groupId, quietly: true))
                    && (states.isEmpty || states.contains(group.state.rawValue.lowercased())) && (types.isEmpty || types.contains("classic"))
            }.map { group in
                .init(groupId: group.groupId, protocolType: group.protocolType, groupState: version >= 4 ? group.state.rawValue : "",
                      groupType: version >= 5 ? "classic" : "")
            })
        }
        return context.serial(response)
    }
}
