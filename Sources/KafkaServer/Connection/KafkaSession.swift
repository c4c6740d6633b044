import AccessControl
import Foundation
import KafkaProtocol
import NIOCore

/// Who is on a Kafka connection and where its SASL authentication stands (Kafka's
/// `SaslServerAuthenticator`, as a small state machine).
///
/// On a SASL listener nothing but ApiVersions, SaslHandshake and SaslAuthenticate is served until
/// authentication succeeds; a failed authentication is answered and the connection closed, as Apache Kafka
/// does. With `connections.max.reauth.ms` (KIP-368) a session ends after that long: the client authenticates
/// again on the same connection (same mechanism, same principal) or the next request closes it.
///
/// Sendable: confined to the connection's event loop (handlers touch it only while starting a request or
/// in futures completed on that loop).
final class KafkaSession: @unchecked Sendable {
    enum Phase {
        case unauthenticated
        /// SaslHandshake accepted this mechanism; v0 means the tokens follow as raw size-prefixed frames.
        case handshaken(mechanism: String, rawTokens: Bool)
        case scram(ScramServerExchange, rawTokens: Bool)
        /// OAUTHBEARER refused the token with an error challenge (RFC 7628 3.2.2); the client's next
        /// message (a single 0x01) ends the exchange with this failure.
        case bearerRefused(message: String, rawTokens: Bool)
        /// A token is being checked (PLAIN's PBKDF2 runs on the I/O pool); requests wait behind it.
        case checking
        case authenticated
    }

    let securityProtocol: KafkaEndpoint.SecurityProtocol
    var phase: Phase = .unauthenticated
    /// `User:ANONYMOUS` until SASL (or a client certificate) names someone.
    var principal: String
    var mechanism: String?
    /// When the authenticated session ends (KIP-368); nil: never.
    var expiresAt: NIODeadline?
    /// Set when the response being written is the last: the connection closes after it.
    var closeAfterResponse = false
    /// Principal and mechanism of the session being re-authenticated; they may not change (KIP-368).
    var reauthenticating: (principal: String, mechanism: String)?

    init(securityProtocol: KafkaEndpoint.SecurityProtocol, certificatePrincipal: String? = nil) {
        self.securityProtocol = securityProtocol
        self.principal = certificatePrincipal ?? "User:ANONYMOUS"
        if !securityProtocol.usesSASL { phase = .authenticated }
    }

    var isAuthenticated: Bool {
        if case .authenticated = phase { return true }
        return reauthenticating != nil
    }

    /// Whether the next frame is a raw SASL token (after a v0 SaslHandshake) rather than a request.
    var expectsRawToken: Bool {
        switch phase {
        case .handshaken(_, let raw), .scram(_, let raw), .bearerRefused(_, let raw): return raw
        default: return false
        }
    }

    /// Why `apiKey` may not be served now (the connection is then closed), or nil.
    func refusal(of apiKey: KafkaApiKey, now: NIODeadline) -> String? {
        switch apiKey {
        case .apiVersions, .saslHandshake, .saslAuthenticate:
            return nil
        default:
            if !isAuthenticated {
                return "\(apiKey.name) before SASL authentication completed on a \(securityProtocol.rawValue) listener"
            }
            if let expiresAt, now >= expiresAt, reauthenticating == nil {
                return "the SASL session of \(principal) expired (connections.max.reauth.ms) and the client did not authenticate again"
            }
            return nil
        }
    }
}

/// The subject of a verified client certificate, sent up the pipeline by the TLS layer once the handshake
/// completes: on an SSL listener it names the principal (`User:CN=device-1,O=Acme`, Kafka's default
/// principal builder); on SASL_SSL the SASL identity wins.
public struct KafkaPeerCertificate: Sendable {
    public var subject: String
    public init(subject: String) { self.subject = subject }
}

/// One SASL step: a token in, the answer out.
enum SaslStep {
    case challenge([UInt8])
    /// `expiresAtMilliseconds`: when the credential itself ends (an OAUTHBEARER token's `exp`).
    case authenticated(principal: String, final: [UInt8], expiresAtMilliseconds: Int64? = nil)
    case failed(String)
}

enum SaslExchange {
    /// Takes a client token in the session's current phase. On the connection's event loop.
    static func step(token: [UInt8], session: KafkaSession, broker: Broker, eventLoop: any EventLoop) -> EventLoopFuture<SaslStep> {
        guard let users = broker.users else {
            return eventLoop.makeSucceededFuture(.failed("the user base is not loaded"))
        }
        switch session.phase {
        case .handshaken(let mechanism, let raw):
            if mechanism == "PLAIN" {
                let parsed: (user: String, password: String)
                do {
                    parsed = try PlainMessage.parse(token)
                } catch {
                    return eventLoop.makeSucceededFuture(.failed("\(error)"))
                }
                session.phase = .checking
                // PBKDF2 (thousands of HMACs) off the event loop.
                return broker.blocking(on: eventLoop) { users.verify(user: parsed.user, password: parsed.password) }
                    .map { valid in
                        valid ? .authenticated(principal: "User:\(parsed.user)", final: [])
                            : .failed("Authentication failed: Invalid username or password")
                    }
            }
            if mechanism == "OAUTHBEARER" {
                return bearer(token: token, session: session, broker: broker, eventLoop: eventLoop, raw: raw)
            }
            guard let scram = ScramMechanism(rawValue: mechanism) else {
                return eventLoop.makeSucceededFuture(.failed("unsupported SASL mechanism \(mechanism)"))
            }
            var exchange = ScramServerExchange(mechanism: scram, fakeSaltKey: users.fakeSaltKey)
            return eventLoop.makeSucceededFuture(scramStep(&exchange, token: token, users: users, session: session, raw: raw))
        case .scram(var exchange, let raw):
            return eventLoop.makeSucceededFuture(scramStep(&exchange, token: token, users: users, session: session, raw: raw))
        case .bearerRefused(let message, _):
            return eventLoop.makeSucceededFuture(.failed(message))
        case .unauthenticated, .authenticated:
            return eventLoop.makeSucceededFuture(.failed("SaslAuthenticate without a SaslHandshake"))
        case .checking:
            return eventLoop.makeSucceededFuture(.failed("SaslAuthenticate while the previous token is being checked"))
        }
    }

    /// OAUTHBEARER (RFC 7628, as Kafka uses it): `gs2-header 0x01 auth=Bearer TOKEN 0x01 [key=value 0x01]* 0x01`.
    /// The token is a JWT checked by the TokenVerifier; the principal is its `sub` (or `username`) claim. A
    /// refused token gets the RFC's error challenge, and the exchange fails at the client's next message.
    private static func bearer(token message: [UInt8], session: KafkaSession, broker: Broker, eventLoop: any EventLoop, raw: Bool) -> EventLoopFuture<SaslStep> {
        guard let verifier = broker.tokens else {
            return eventLoop.makeSucceededFuture(.failed("OAUTHBEARER has no keys to check tokens with (jwt-jwks-file, jwt-hmac-secret-file)"))
        }
        guard let text = String(validating: message, as: UTF8.self), let first = text.firstIndex(of: "\u{1}") else {
            return eventLoop.makeSucceededFuture(.failed("invalid OAUTHBEARER message"))
        }
        let fields = text[text.index(after: first)...].split(separator: "\u{1}")
        guard let auth = fields.first(where: { $0.hasPrefix("auth=") }), auth.lowercased().hasPrefix("auth=bearer ") else {
            return eventLoop.makeSucceededFuture(.failed("invalid OAUTHBEARER message: no auth=Bearer"))
        }
        let bearerToken = String(auth.dropFirst("auth=Bearer ".count)).trimmingCharacters(in: .whitespaces)
        session.phase = .checking
        return eventLoop.makeFutureWithTask { () -> SaslStep in
            do {
                let verified = try await verifier.verify(bearerToken)
                guard let name = verified.subject ?? verified.username, !name.isEmpty else {
                    throw AuthenticationFailure("the token names no subject")
                }
                return .authenticated(principal: "User:\(name)", final: [], expiresAtMilliseconds: verified.expiresAtMilliseconds)
            } catch {
                return .challenge(Array(#"{"status":"invalid_token"}"#.utf8))
            }
        }.map { step in
            if case .challenge = step { session.phase = .bearerRefused(message: "Authentication failed: invalid OAUTHBEARER token", rawTokens: raw) }
            return step
        }
    }

    private static func scramStep(_ exchange: inout ScramServerExchange, token: [UInt8], users: UserStore, session: KafkaSession, raw: Bool) -> SaslStep {
        let mechanism = exchange.mechanism
        do {
            switch try exchange.receive(token, credential: { users.credential(user: $0, mechanism: mechanism) }) {
            case .challenge(let bytes):
                session.phase = .scram(exchange, rawTokens: raw)
                return .challenge(bytes)
            case .authenticated(let user, let final):
                return .authenticated(principal: "User:\(user)", final: final)
            }
        } catch {
            return .failed("\(error)")
        }
    }

    /// Records the outcome of a step in the session; returns the session lifetime to tell the client (ms,
    /// 0 for none) on success, or the failure message.
    static func conclude(_ step: SaslStep, session: KafkaSession, broker: Broker, mechanism: String) -> Result<Int64, SaslFailure> {
        switch step {
        case .challenge:
            return .success(0)
        case .failed(let message):
            session.phase = .unauthenticated
            session.closeAfterResponse = true
            return .failure(SaslFailure(message: message))
        case .authenticated(let principal, _, let credentialExpiry):
            if let previous = session.reauthenticating, previous.principal != principal || previous.mechanism != mechanism {
                session.closeAfterResponse = true
                session.phase = .unauthenticated
                return .failure(SaslFailure(message: "Cannot change principals or mechanisms during re-authentication from \(previous.principal) to \(principal)"))
            }
            session.reauthenticating = nil
            session.phase = .authenticated
            session.principal = principal
            session.mechanism = mechanism
            // KIP-368: the session lasts connections.max.reauth.ms, and never beyond the credential (a token's exp).
            var lifetime = broker.configuration.maxReauthMilliseconds
            if let credentialExpiry {
                let remaining = max(1, credentialExpiry - Int64(Date().timeIntervalSince1970 * 1000))
                lifetime = lifetime > 0 ? min(lifetime, remaining) : remaining
            }
            session.expiresAt = lifetime > 0 ? .now() + .milliseconds(lifetime) : nil
            return .success(lifetime)
        }
    }
}

struct SaslFailure: Error {
    var message: String
}
