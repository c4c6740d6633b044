import AccessControl
import MQTTBroker
import NIOCore
import NIOPosix

/// MQTT user names and passwords against the user base both protocols share: the password is checked
/// against the user's SCRAM credential (PBKDF2 on the I/O pool, compared in constant time). A client
/// without a user name, or with one the user base does not know, is left to the next authenticator.
struct UserBaseAuthenticator: MQTTAuthenticator {
    let users: UserStore
    let threadPool: NIOThreadPool

    func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision> {
        guard let username = credentials.username, users.user(username) != nil else {
            return eventLoop.makeSucceededFuture(.ignore)
        }
        guard let passwordBytes = credentials.password, let password = String(validating: passwordBytes, as: UTF8.self) else {
            return eventLoop.makeSucceededFuture(.deny(.badUserNameOrPassword))
        }
        let users = self.users
        return threadPool.runIfActive(eventLoop: eventLoop) {
            users.verify(user: username, password: password) ? MQTTAuthenticationDecision.allow : .deny(.badUserNameOrPassword)
        }
    }
}

/// Clients with a verified certificate (tls-client-auth optional or require, against tls-ca) are who their
/// certificate says: its common name, whole subject or first DNS name becomes the user name, and optionally
/// the client id (EMQX's peer_cert_as_username / peer_cert_as_clientid). Clients without one are left to the
/// next authenticator. (On WebSocket over TLS the certificate is not passed through the HTTP upgrade yet.)
struct CertificateAuthenticator: MQTTAuthenticator {
    enum Field: String, Sendable {
        case off, cn, dn, san
    }

    let username: Field
    let clientId: Field

    func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision> {
        guard username != .off, let certificate = credentials.certificate else { return eventLoop.makeSucceededFuture(.ignore) }
        guard let name = Self.value(username, of: certificate) else {
            return eventLoop.makeSucceededFuture(.deny(.notAuthorized))
        }
        return eventLoop.makeSucceededFuture(.allowAs(username: name, clientId: Self.value(clientId, of: certificate), until: nil))
    }

    static func value(_ field: Field, of certificate: MQTTPeerCertificate) -> String? {
        switch field {
        case .off: return nil
        case .cn: return certificate.commonName
        case .dn: return certificate.subject
        case .san: return certificate.dnsNames.first
        }
    }
}

/// A JSON Web Token in the password field (EMQX's JWT authenticator): checked with jwt-kit against the
/// configured keys, `exp` required (the connection is closed when it passes). A `clientid` or `username`
/// claim pins the token to that client id or user name. Passwords that are not shaped like a JWT are left to
/// the next authenticator.
struct JWTAuthenticator: MQTTAuthenticator {
    let verifier: TokenVerifier

    func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision> {
        guard let bytes = credentials.password, let token = String(validating: bytes, as: UTF8.self), TokenVerifier.looksLikeToken(token) else {
            return eventLoop.makeSucceededFuture(.ignore)
        }
        let verifier = self.verifier
        return eventLoop.makeFutureWithTask {
            let verified: VerifiedToken
            do {
                verified = try await verifier.verify(token)
            } catch {
                return .deny(.badUserNameOrPassword)
            }
            if let pinned = verified.clientId, pinned != credentials.clientId { return .deny(.notAuthorized) }
            if let pinned = verified.username, let given = credentials.username, pinned != given { return .deny(.notAuthorized) }
            let username = verified.username ?? credentials.username ?? verified.subject ?? credentials.clientId
            return .allowAs(username: username, clientId: nil, until: verified.expiresAtMilliseconds)
        }
    }
}
