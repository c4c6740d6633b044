// DescribeCluster (key 60), versions 0-1.
//
// Behavior: the cluster id, this broker as the only broker and as the controller, and (on request) the
// cluster operations the principal may do (all of them without the ACL authorizer).
// Version notes: v1 adds the endpoint type: brokers (1) are answered; controllers (2) get
// UNSUPPORTED_ENDPOINT_TYPE, since this broker has no separate controller listener.

import AccessControl
import KafkaProtocol
import NIOCore

enum DescribeClusterHandler {
    static func handle(_ request: DescribeClusterRequest, context: RequestContext) -> StartedRequest {
        let configuration = context.broker.configuration
        var response = DescribeClusterResponse(throttleTimeMs: 0, errorCode: 0, errorMessage: nil, endpointType: request.endpointType,
                                               clusterId: configuration.clusterId, controllerId: configuration.nodeId, brokers: [],
                                               clusterAuthorizedOperations: !request.includeClusterAuthorizedOperations ? Int32.min
                                                   : context.broker.acls == nil ? MetadataHandler.allClusterOperations
                                                   : context.authorizedOperations(.cluster, kafkaClusterResourceName, candidates: AclOperation.clusterOperations))
        if context.version >= 1 && request.endpointType != 1 {
            response.errorCode = KafkaErrorCode.unsupportedEndpointType.rawValue
            response.errorMessage = "Endpoint type \(request.endpointType) is not supported; brokers (1) are."
            return context.serial(response)
        }
        response.brokers = [DescribeClusterResponse.DescribeClusterBroker(brokerId: configuration.nodeId, host: context.endpoint.advertisedHost, port: context.endpoint.advertisedPort, rack: configuration.rack)]
        return context.serial(response)
    }
}
