public import Foundation
import JWTKit

/// What a verified JSON Web Token says: who, until when, and the client id or user name it pins.
public struct VerifiedToken: Sendable, Equatable {
    public var subject: String?
    public var username: String?
    public var clientId: String?
    /// Milliseconds since the epoch.
    public var expiresAtMilliseconds: Int64
}

/// Checks JWTs (MQTT passwords, and Kafka's OAUTHBEARER to come) with jwt-kit against the configured keys:
/// a JWKS file (RS256/ES256/EdDSA public keys, as identity providers publish them) and/or an HMAC secret
/// file (HS256). `exp` is required and enforced; `iss` and `aud` are checked when configured.
public final class TokenVerifier: Sendable {
    private let keys: JWTKeyCollection
    let issuer: String?
    let audience: String?

    struct Claims: JWTPayload {
        var exp: ExpirationClaim
        var sub: SubjectClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var clientid: String?
        var username: String?

        func verify(using algorithm: some JWTAlgorithm) throws {
            try exp.verifyNotExpired()
        }
    }

    public init(jwksFile: String?, hmacSecretFile: String?, issuer: String?, audience: String?) async throws {
        guard jwksFile != nil || hmacSecretFile != nil else {
            throw UserStoreError("JWT authentication needs jwt-jwks-file or jwt-hmac-secret-file")
        }
        let keys = JWTKeyCollection()
        if let jwksFile {
            let text: String
            do {
                text = try String(contentsOfFile: jwksFile, encoding: .utf8)
            } catch {
                throw UserStoreError("jwt-jwks-file \(jwksFile) cannot be read: \(error.localizedDescription)")
            }
            do {
                try await keys.add(jwksJSON: text)
            } catch {
                throw UserStoreError("jwt-jwks-file \(jwksFile) is not a usable JWKS: \(error)")
            }
        }
        if let hmacSecretFile {
            guard let data = FileManager.default.contents(atPath: hmacSecretFile) else {
                throw UserStoreError("jwt-hmac-secret-file \(hmacSecretFile) cannot be read")
            }
            var secret = Array(data)
            while let last = secret.last, last == 0x0A || last == 0x0D { secret.removeLast() }
            guard secret.count >= 32 else { throw UserStoreError("jwt-hmac-secret-file must hold at least 32 bytes") }
            await keys.add(hmac: HMACKey(key: .init(data: secret)), digestAlgorithm: .sha256)
        }
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
    }

    /// Whether `text` has the shape of a JWT (three base64url parts), so that a password that is not one is
    /// left to the next authenticator.
    public static func looksLikeToken(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "=" }
        } && text.hasPrefix("eyJ")
    }

    public func verify(_ token: String) async throws -> VerifiedToken {
        let claims = try await keys.verify(token, as: Claims.self)
        if let issuer, claims.iss?.value != issuer {
            throw AuthenticationFailure("token issuer is not \(issuer)")
        }
        if let audience {
            guard let claimed = claims.aud else { throw AuthenticationFailure("token has no audience") }
            try claimed.verifyIntendedAudience(includes: audience)
        }
        return VerifiedToken(
            subject: claims.sub?.value, username: claims.username, clientId: claims.clientid,
            expiresAtMilliseconds: Int64(claims.exp.value.timeIntervalSince1970 * 1000))
    }
}
