// SaslAuthenticate (key 36), versions 0-2.
//
// Behavior: without a successful SaslHandshake there is nothing to authenticate: ILLEGAL_SASL_STATE with a
// message, as Apache Kafka answers an out-of-order SaslAuthenticate.
// Version notes: v1+ carry the session lifetime; v2+ flexible.

import KafkaProtocol
import NIOCore

enum SaslAuthenticateHandler {
    static func handle(_ request: SaslAuthenticateRequest, context: RequestContext) -> StartedRequest {
        context.serial(SaslAuthenticateResponse(
            errorCode: KafkaErrorCode.illegalSaslState.rawValue,
            errorMessage: "SASL authentication is not enabled on this listener; no SaslHandshake succeeded.",
            authBytes: ByteBuffer(), sessionLifetimeMs: 0))
    }
}
