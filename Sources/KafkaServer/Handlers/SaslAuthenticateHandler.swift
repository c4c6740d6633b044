// SaslAuthenticate (key 36), versions 0-2.
//
// Behavior: carries the tokens of the mechanism chosen by SaslHandshake v1: PLAIN (checked against the user
// base's SCRAM credentials), SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, two round trips). A failure is
// SASL_AUTHENTICATION_FAILED with a message that names no secret, logged, and the connection closes after
// the response, as on Apache Kafka. Without a SaslHandshake: ILLEGAL_SASL_STATE (closing the connection
// only on a SASL listener before authentication).
// Version notes: v1+ carry the session lifetime (`connections.max.reauth.ms`, KIP-368); v2+ flexible.
//
// After a v0 SaslHandshake the same tokens come as raw frames instead (`handleRawToken`): the answer is a
// raw size-prefixed token, and a failure just closes the connection (that framing has no error field).

import KafkaProtocol
import Logging
import NIOCore

enum SaslAuthenticateHandler {
    static func handle(_ request: SaslAuthenticateRequest, context: RequestContext) -> StartedRequest {
        let session = context.session
        let mechanism: String
        switch session.phase {
        case .handshaken(let name, false): mechanism = name
        case .scram(let exchange, false): mechanism = exchange.mechanism.rawValue
        case .bearerRefused(_, false): mechanism = "OAUTHBEARER"
        default:
            // On a SASL listener the exchange is broken and the connection closes, as on Kafka; on another
            // listener (or after authentication) the answer is all, as Kafka's request handler gives it.
            let inExchange = context.endpoint.securityProtocol.usesSASL && !session.isAuthenticated
            context.logger.info("SaslAuthenticate without a SaslHandshake", metadata: ["closing": "\(inExchange)"])
            session.closeAfterResponse = inExchange
            return context.serial(SaslAuthenticateResponse(
                errorCode: KafkaErrorCode.illegalSaslState.rawValue,
                errorMessage: context.endpoint.securityProtocol.usesSASL
                    ? "SaslAuthenticate without a successful SaslHandshake."
                    : "SASL authentication is not enabled on this listener; no SaslHandshake succeeded.",
                authBytes: ByteBuffer(), sessionLifetimeMs: 0))
        }
        let token = Array(request.authBytes.readableBytesView)
        let response = SaslExchange.step(token: token, session: session, broker: context.broker, eventLoop: context.eventLoop).map { step in
            let outcome = SaslExchange.conclude(step, session: session, broker: context.broker, mechanism: mechanism)
            switch (outcome, step) {
            case (.failure(let failure), _):
                context.logger.warning("SASL authentication failed", metadata: ["mechanism": "\(mechanism)", "reason": "\(failure.message)"])
                return SaslAuthenticateResponse(
                    errorCode: KafkaErrorCode.saslAuthenticationFailed.rawValue, errorMessage: failure.message, authBytes: ByteBuffer(),
                    sessionLifetimeMs: 0)
            case (.success(let lifetime), .authenticated(let principal, let final, _)):
                context.logger.info("SASL authentication succeeded", metadata: ["mechanism": "\(mechanism)", "principal": "\(principal)"])
                return SaslAuthenticateResponse(errorCode: 0, errorMessage: nil, authBytes: ByteBuffer(bytes: final), sessionLifetimeMs: lifetime)
            case (.success, .challenge(let bytes)):
                return SaslAuthenticateResponse(errorCode: 0, errorMessage: nil, authBytes: ByteBuffer(bytes: bytes), sessionLifetimeMs: 0)
            case (.success, .failed):
                // conclude turns every failed step into a failure.
                return SaslAuthenticateResponse(errorCode: KafkaErrorCode.saslAuthenticationFailed.rawValue, errorMessage: "authentication failed", authBytes: ByteBuffer(), sessionLifetimeMs: 0)
            }
        }
        return context.serial(response)
    }

    /// A raw token after a v0 SaslHandshake: answered with a raw size-prefixed token.
    static func handleRawToken(_ frame: ByteBuffer, session: KafkaSession, broker: Broker, eventLoop: any EventLoop, logger: Logger) -> StartedRequest {
        let mechanism: String
        switch session.phase {
        case .handshaken(let name, true): mechanism = name
        case .scram(let exchange, true): mechanism = exchange.mechanism.rawValue
        case .bearerRefused(_, true): mechanism = "OAUTHBEARER"
        default:
            // Unreachable: the connection only routes raw tokens here in these phases.
            session.closeAfterResponse = true
            return StartedRequest(ready: eventLoop.makeSucceededVoidFuture(), response: eventLoop.makeSucceededFuture(OutboundResponse(ByteBuffer())))
        }
        let response = SaslExchange.step(token: Array(frame.readableBytesView), session: session, broker: broker, eventLoop: eventLoop).map { step -> OutboundResponse in
            var bytes = ByteBuffer()
            switch (SaslExchange.conclude(step, session: session, broker: broker, mechanism: mechanism), step) {
            case (.failure(let failure), _):
                logger.warning("SASL authentication failed", metadata: ["mechanism": "\(mechanism)", "reason": "\(failure.message)"])
            case (.success, .authenticated(let principal, let final, _)):
                logger.info("SASL authentication succeeded", metadata: ["mechanism": "\(mechanism)", "principal": "\(principal)"])
                bytes.writeInteger(Int32(final.count))
                bytes.writeBytes(final)
            case (.success, .challenge(let token)):
                bytes.writeInteger(Int32(token.count))
                bytes.writeBytes(token)
            case (.success, .failed):
                session.closeAfterResponse = true
            }
            return OutboundResponse(bytes)
        }
        return StartedRequest(ready: response.map { _ in }.recover { _ in }, response: response)
    }
}
