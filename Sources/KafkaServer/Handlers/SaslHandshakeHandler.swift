// SaslHandshake (key 17), versions 0-1.
//
// Behavior: on a SASL listener (SASL_PLAINTEXT, SASL_SSL) a mechanism of `sasl.enabled.mechanisms` is
// accepted and the enabled list returned; another gets UNSUPPORTED_SASL_MECHANISM with the list. A
// handshake on an authenticated connection starts a re-authentication (KIP-368: v1 only, same mechanism).
// A handshake in the middle of an exchange is ILLEGAL_SASL_STATE, and the connection closes, as on Kafka.
// On a listener without SASL every mechanism gets UNSUPPORTED_SASL_MECHANISM with an empty list, so that
// clients say "unsupported SASL mechanism" at once.
// Version notes: v0 means the tokens follow as raw size-prefixed frames (no request header); v1 means
// they come in SaslAuthenticate requests.

import KafkaProtocol
import NIOCore

enum SaslHandshakeHandler {
    static func handle(_ request: SaslHandshakeRequest, context: RequestContext) -> StartedRequest {
        let session = context.session
        guard context.endpoint.securityProtocol.usesSASL else {
            context.logger.info("refused a SASL handshake: no SASL on this listener", metadata: ["mechanism": "\(request.mechanism)", "listener": "\(context.endpoint.securityProtocol.rawValue)"])
            return context.serial(SaslHandshakeResponse(errorCode: KafkaErrorCode.unsupportedSaslMechanism.rawValue, mechanisms: []))
        }
        let enabled = context.broker.configuration.saslMechanisms
        guard enabled.contains(request.mechanism) else {
            context.logger.info("refused a SASL handshake: mechanism not enabled", metadata: ["mechanism": "\(request.mechanism)"])
            return context.serial(SaslHandshakeResponse(errorCode: KafkaErrorCode.unsupportedSaslMechanism.rawValue, mechanisms: enabled))
        }
        switch session.phase {
        case .unauthenticated:
            break
        case .authenticated where context.version >= 1 && session.mechanism == request.mechanism:
            session.reauthenticating = (session.principal, request.mechanism)
        default:
            context.logger.info("refused a SASL handshake out of order; closing", metadata: ["mechanism": "\(request.mechanism)"])
            session.closeAfterResponse = true
            return context.serial(SaslHandshakeResponse(errorCode: KafkaErrorCode.illegalSaslState.rawValue, mechanisms: enabled))
        }
        session.phase = .handshaken(mechanism: request.mechanism, rawTokens: context.version == 0)
        return context.serial(SaslHandshakeResponse(errorCode: KafkaErrorCode.noError.rawValue, mechanisms: enabled))
    }
}
