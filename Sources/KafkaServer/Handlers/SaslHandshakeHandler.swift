// SaslHandshake (key 17), versions 0-1.
//
// Behavior: no SASL mechanism is enabled on this listener yet, so every mechanism gets
// UNSUPPORTED_SASL_MECHANISM with an empty list of enabled mechanisms; clients show "unsupported SASL
// mechanism" at once instead of a closed connection. (Apache Kafka answers ILLEGAL_SASL_STATE on a PLAINTEXT
// listener; the empty mechanism list says the same more plainly to every client.)
// Version notes: v1 means the authentication bytes follow in SaslAuthenticate requests.

import KafkaProtocol
import NIOCore

enum SaslHandshakeHandler {
    static func handle(_ request: SaslHandshakeRequest, context: RequestContext) -> StartedRequest {
        context.logger.info("refused a SASL handshake: no SASL mechanism is enabled on this listener", metadata: ["mechanism": "\(request.mechanism)"])
        return context.serial(SaslHandshakeResponse(errorCode: KafkaErrorCode.unsupportedSaslMechanism.rawValue, mechanisms: []))
    }
}
