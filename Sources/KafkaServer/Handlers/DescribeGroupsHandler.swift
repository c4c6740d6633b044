// DescribeGroups (key 15), versions 0-5.
//
// Behavior: state, protocol type, chosen protocol and members (client id and host, and, once the group is
// Stable, each member's subscription metadata and assignment). A group the coordinator does not know is
// reported as "Dead" with no error, as Kafka does up to v5.
// Version notes: v3+ authorized operations (all, without an authorizer); v4+ group instance ids;
// v5 flexible.

import Coordinator
import KafkaProtocol
import NIOCore

enum DescribeGroupsHandler {
    /// DESCRIBE, DELETE, READ for groups.
    static let groupOperations: Int32 = [3, 6, 8].reduce(0) { $0 | (1 << $1) }

    static func handle(_ request: DescribeGroupsRequest, context: RequestContext) -> StartedRequest {
        let version = context.version
        let response = context.coordinator.describe(groupIds: request.groups).map { descriptions in
            DescribeGroupsResponse(throttleTimeMs: 0, groups: descriptions.map { description in
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
                    authorizedOperations: request.includeAuthorizedOperations ? groupOperations : Int32.min)
            })
        }
        return context.serial(response)
    }
}
