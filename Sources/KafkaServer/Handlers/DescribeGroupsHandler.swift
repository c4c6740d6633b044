// DescribeGroups (key 15), versions 0-5.
//
// Behavior: state, protocol type, chosen protocol and members (client id and host, and, once the group is
// Stable, each member's subscription metadata and assignment). A group the coordinator does not know is
// reported as "Dead" with no error, as Kafka does up to v5.
// Version notes: v3+ authorized operations (all, without an authorizer); v4+ group instance ids;
// v5 flexible.
// Authorization (with the ACL authorizer): DESCRIBE on each group, else GROUP_AUTHORIZATION_FAILED for it.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum DescribeGroupsHandler {
    /// DESCRIBE, DELETE, READ for groups.
    static let groupOperations: Int32 = [3, 6, 8].reduce(0) { $0 | (1 << $1) }

    static func handle(_ request: DescribeGroupsRequest, context: RequestContext) -> StartedRequest {
        let version = context.version
        let allowed = Set(request.groups.filter { context.authorized(.describe, .group, $0) })
        let response = context.coordinator.describe(groupIds: request.groups.filter(allowed.contains)).map { descriptions in
            let byId = Dictionary(descriptions.map { ($0.groupId, $0) }, uniquingKeysWith: { first, _ in first })
            return DescribeGroupsResponse(throttleTimeMs: 0, groups: request.groups.map { groupId in
                guard let description = byId[groupId] else {
                    return DescribeGroupsResponse.DescribedGroup(
                        errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue, groupId: groupId, groupState: "", protocolType: "", protocolData: "",
                        members: [], authorizedOperations: Int32.min)
                }
                let stable = description.state == .stable
                return DescribeGroupsResponse.DescribedGroup(
                    errorCode: description.groupId.isEmpty ? KafkaErrorCode.invalidGroupId.rawValue : 0,
                    groupId: description.groupId, groupState: description.state.rawValue, protocolType: description.protocolType,
                    protocolData: description.protocolName,
                    members: description.members.map { member in
                        .init(memberId: member.memberId, groupInstanceId: version >= 4 ? member.groupInstanceId : nil, clientId: member.clientId,
                              clientHost: member.clientHost, memberMetadata: stable ? member.metadata(for: description.protocolName) : ByteBuffer(),
                              memberAssignment: stable ? member.assignment : ByteBuffer())
                    },
                    authorizedOperations: !request.includeAuthorizedOperations ? Int32.min
                        : context.broker.acls == nil ? groupOperations : context.authorizedOperations(.group, groupId, candidates: AclOperation.groupOperations))
            })
        }
        return context.serial(response)
    }
}
