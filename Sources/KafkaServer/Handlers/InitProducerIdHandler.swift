// InitProducerId (key 22), versions 0-5.
//
// Behavior: gives an idempotent producer a new producer id (unique across restarts) with epoch 0. From
// v3 (KIP-360) a producer may send its current id and epoch to have the epoch bumped instead; at the top
// of the epoch range it gets a fresh id. Transactional ids are refused with INVALID_REQUEST: this broker
// has no transaction coordinator.
// Version notes: v2+ flexible; v3+ carry the current producer id and epoch; v5 (KIP-890) is the same.
// Authorization (with the ACL authorizer): WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
// without one, IDEMPOTENT_WRITE on the cluster or WRITE on some topic (CLUSTER_AUTHORIZATION_FAILED).

import AccessControl
import KafkaProtocol
import NIOCore

enum InitProducerIdHandler {
    static func handle(_ request: InitProducerIdRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        if let transactionalId = request.transactionalId, !context.authorized(.write, .transactionalId, transactionalId) {
            return context.serial(InitProducerIdResponse(
                throttleTimeMs: 0, errorCode: KafkaErrorCode.transactionalIdAuthorizationFailed.rawValue, producerId: -1, producerEpoch: -1))
        }
        if request.transactionalId != nil {
            context.logger.info("refused InitProducerId with a transactional id: transactions are not supported")
            return context.serial(InitProducerIdResponse(throttleTimeMs: 0, errorCode: KafkaErrorCode.invalidRequest.rawValue, producerId: -1, producerEpoch: -1))
        }
        if let acls = broker.acls, !context.authorizedOnCluster(.idempotentWrite, quietly: true),
            !acls.authorizeAny(principal: context.session.principal, host: context.aclHost, operation: .write, resourceType: .topic)
        {
            context.logger.info("authorization denied", metadata: ["principal": "\(context.session.principal)", "operation": "IDEMPOTENT_WRITE", "resource": "cluster"])
            return context.serial(InitProducerIdResponse(throttleTimeMs: 0, errorCode: KafkaErrorCode.clusterAuthorizationFailed.rawValue, producerId: -1, producerEpoch: -1))
        }
        let response = broker.blocking(on: context.eventLoop) { () -> InitProducerIdResponse in
            if request.producerId >= 0 && request.producerEpoch >= 0 && request.producerEpoch < Int16.max - 1 {
                return InitProducerIdResponse(throttleTimeMs: 0, errorCode: 0, producerId: request.producerId, producerEpoch: request.producerEpoch + 1)
            }
            do {
                return InitProducerIdResponse(throttleTimeMs: 0, errorCode: 0, producerId: try broker.producerIds.nextProducerId(), producerEpoch: 0)
            } catch {
                context.logger.error("allocating a producer id failed", metadata: ["error": "\(error)"])
                return InitProducerIdResponse(throttleTimeMs: 0, errorCode: KafkaErrorCode.kafkaStorageError.rawValue, producerId: -1, producerEpoch: -1)
            }
        }
        return context.serial(response)
    }
}
