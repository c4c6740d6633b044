// FindCoordinator (key 10), versions 0-6.
//
// Behavior: this broker coordinates every group (key type 0). Transaction coordinators (key type 1) do
// not exist yet: the answer must make every client fail at once with the text instead of retrying
// COORDINATOR_NOT_AVAILABLE until it times out. librdkafka gives up on a transaction coordinator lookup
// only for TRANSACTIONAL_ID_AUTHORIZATION_FAILED and CLUSTER_AUTHORIZATION_FAILED, and the Java client
// shows the broker's message only for codes it does not handle itself, so the answer is
// CLUSTER_AUTHORIZATION_FAILED with "Transactions are not supported by this broker" (both clients print it).
// Share groups (2) and unknown key types are INVALID_REQUEST. An empty group id is INVALID_REQUEST.
// Version notes: v1+ key type and error message; v3+ flexible; v4+ batch several keys in CoordinatorKeys
// and answer per key.
// Authorization (with the ACL authorizer): DESCRIBE on the group, else GROUP_AUTHORIZATION_FAILED.

import AccessControl
import KafkaProtocol
import NIOCore

enum FindCoordinatorHandler {
    static func answer(key: String, keyType: Int8, context: RequestContext) -> (KafkaErrorCode, String?) {
        switch keyType {
        case 0 where key.isEmpty: return (.invalidRequest, "The group id must not be empty.")
        case 0 where !context.authorized(.describe, .group, key): return (.groupAuthorizationFailed, "Authorization failed.")
        case 0: return (.noError, nil)
        case 1: return (.clusterAuthorizationFailed, "Transactions are not supported by this broker.")
        default: return (.invalidRequest, "Key type \(keyType) is not supported.")
        }
    }

    static func handle(_ request: FindCoordinatorRequest, context: RequestContext) -> StartedRequest {
        let configuration = context.broker.configuration
        var response = FindCoordinatorResponse(throttleTimeMs: 0)
        if context.version >= 4 {
            response.coordinators = request.coordinatorKeys.map { key in
                let (code, message) = answer(key: key, keyType: request.keyType, context: context)
                return FindCoordinatorResponse.Coordinator(
                    key: key, nodeId: code == .noError ? configuration.nodeId : -1, host: code == .noError ? context.endpoint.advertisedHost : "",
                    port: code == .noError ? context.endpoint.advertisedPort : -1, errorCode: code.rawValue, errorMessage: message)
            }
        } else {
            let (code, message) = answer(key: request.key, keyType: request.keyType, context: context)
            response.errorCode = code.rawValue
            response.errorMessage = context.version >= 1 ? message : nil
            response.nodeId = code == .noError ? configuration.nodeId : -1
            response.host = code == .noError ? context.endpoint.advertisedHost : ""
            response.port = code == .noError ? context.endpoint.advertisedPort : -1
        }
        return context.serial(response)
    }
}
