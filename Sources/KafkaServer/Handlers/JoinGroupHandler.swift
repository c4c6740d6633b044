// JoinGroup (key 11), versions 0-9.
//
// Behavior: the classic group protocol (Coordinator/ClassicGroup): the request waits until every member
// has (re)joined, a new group's initial rebalance delay has passed, or the rebalance timeout expired. The
// leader receives every member's metadata for the protocol all members support (INCONSISTENT_GROUP_PROTOCOL
// when there is none, or the protocol type differs). Session timeouts outside the broker's bounds get
// INVALID_SESSION_TIMEOUT. Static members (group.instance.id) that return to a stable group get their
// place back without a rebalance.
// Version notes: v1+ rebalance timeout (v0 uses the session timeout); v4+ an unknown member first gets
// MEMBER_ID_REQUIRED with its id and must join again with it; v5+ group instance id; v6+ flexible;
// v7+ the response names the protocol type and a nullable protocol name; v8+ reason; v9+ skipAssignment.
// Authorization (with the ACL authorizer): READ on the group, else GROUP_AUTHORIZATION_FAILED.

import AccessControl
import Coordinator
import KafkaProtocol
import NIOCore

enum JoinGroupHandler {
    static func handle(_ request: JoinGroupRequest, context: RequestContext) -> StartedRequest {
        let version = context.version
        guard context.authorized(.read, .group, request.groupId) else {
            return context.serial(JoinGroupResponse(
                throttleTimeMs: 0, errorCode: KafkaErrorCode.groupAuthorizationFailed.rawValue, generationId: -1, protocolType: nil,
                protocolName: version >= 7 ? nil : "", leader: "", skipAssignment: false, memberId: request.memberId, members: []))
        }
        let join = ClassicGroup.JoinRequest(
            memberId: request.memberId, groupInstanceId: request.groupInstanceId, clientId: context.header.clientId ?? "",
            clientHost: context.clientHost,
            rebalanceTimeoutMilliseconds: version >= 1 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs,
            sessionTimeoutMilliseconds: request.sessionTimeoutMs, protocolType: request.protocolType,
            protocols: request.protocols.map { ClassicGroup.SupportedProtocol(name: $0.name, metadata: $0.metadata) },
            requireKnownMemberId: version >= 4, supportsSkipAssignment: version >= 9)
        let response = context.coordinator.join(groupId: request.groupId, join).map { result -> JoinGroupResponse in
            if result.errorCode != .noError && result.errorCode != .memberIdRequired {
                context.logger.debug("JoinGroup failed", metadata: ["group": "\(request.groupId)", "error": "\(result.errorCode)"])
            }
            return JoinGroupResponse(
                throttleTimeMs: 0, errorCode: result.errorCode.rawValue, generationId: result.generationId,
                protocolType: version >= 7 ? result.protocolType : nil,
                protocolName: version >= 7 ? result.protocolName : (result.protocolName ?? ""),
                leader: result.leaderId, skipAssignment: version >= 9 && result.skipAssignment, memberId: result.memberId,
                members: result.members.map { .init(memberId: $0.memberId, groupInstanceId: version >= 5 ? $0.groupInstanceId : nil, metadata: $0.metadata) })
        }
        // A join waits for the whole group; later requests on the connection must not wait for it.
        return StartedRequest(ready: context.eventLoop.makeSucceededVoidFuture(), response: context.encode(response))
    }
}
