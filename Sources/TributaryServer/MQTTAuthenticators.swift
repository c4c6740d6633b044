import AccessControl
import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import MQTTBroker
import NIOConcurrencyHelpers
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

/// An HTTP service decides (EMQX's HTTP authenticator): the CONNECT's client id, user name, password, peer
/// address and protocol are POSTed as JSON to `url`; a 200 answer with `{"result": "allow" | "deny" |
/// "ignore"}` decides (204 allows; any other status, a timeout or an unreadable body is logged and
/// ignored, leaving the client to the next authenticator). Answers are cached for `cacheTTL` under a keyed
/// hash of what was sent, with the peer's address but not its port (never the password itself), so a reconnecting device does not call the service
/// each time; the cache holds at most `maximumCachedAnswers` entries. The HTTP client (async-http-client)
/// runs on the server's event loops; it is shut down with the MQTT service.
final class HTTPAuthenticator: MQTTAuthenticator {
    let url: String
    let timeout: TimeAmount
    let cacheTTL: TimeAmount
    let client: HTTPClient
    let logger: Logger
    static let maximumCachedAnswers = 100_000
    static let maximumAnswerBytes = 64 * 1024
    private let cacheKey = SymmetricKey(size: .bits256)
    private let cache = NIOLockedValueBox<[[UInt8]: (decision: MQTTAuthenticationDecision, expires: NIODeadline)]>([:])

    init(url: String, timeout: TimeAmount, cacheTTL: TimeAmount, group: any EventLoopGroup, logger: Logger) {
        self.url = url
        self.timeout = timeout
        self.cacheTTL = cacheTTL
        self.logger = logger
        self.client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: HTTPClient.Configuration(timeout: .init(connect: timeout, read: timeout)))
    }

    func shutdown() async {
        do {
            try await client.shutdown()
        } catch {
            logger.warning("the MQTT authentication HTTP client did not shut down cleanly", metadata: ["error": "\(error)"])
        }
    }

    struct Question: Encodable {
        var clientid: String
        var username: String?
        var password: String?
        var peer: String
        var protocol_: String
        var listener: String

        enum CodingKeys: String, CodingKey {
            case clientid, username, password, peer, listener
            case protocol_ = "protocol"
        }
    }

    struct Answer: Decodable {
        var result: String
    }

    func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision> {
        var password: String? = nil
        if let bytes = credentials.password {
            // JSON carries text: a binary password is not this service's to judge (and two of them must
            // never share a cached answer).
            guard let text = String(validating: bytes, as: UTF8.self) else { return eventLoop.makeSucceededFuture(.ignore) }
            password = text
        }
        let question = Question(
            clientid: credentials.clientId, username: credentials.username,
            password: password, peer: credentials.remoteAddress,
            protocol_: credentials.protocolVersion == .v5 ? "MQTT 5.0" : "MQTT 3.1.1", listener: credentials.listener.rawValue)
        let body: Data
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            body = try encoder.encode(question)
        } catch {
            logger.error("could not encode the MQTT authentication request", metadata: ["error": "\(error)"])
            return eventLoop.makeSucceededFuture(.ignore)
        }
        // The cache key: what was asked, with the peer's address but not its port (a new connection each time).
        var cached = question
        if let colon = cached.peer.lastIndex(of: ":") { cached.peer = String(cached.peer[..<colon]) }
        let key = Array(HMAC<SHA256>.authenticationCode(for: (try? JSONEncoder().encode(cached)) ?? body, using: cacheKey))
        let now = NIODeadline.now()
        if let cached = cache.withLockedValue({ $0[key] }), cached.expires > now {
            return eventLoop.makeSucceededFuture(cached.decision)
        }
        return eventLoop.makeFutureWithTask {
            let decision = await self.ask(body, clientId: credentials.clientId)
            if self.cacheTTL > .zero, decision != .ignore {
                self.remember(key, decision, now: now)
            }
            return decision
        }
    }

    private func ask(_ body: Data, clientId: String) async -> MQTTAuthenticationDecision {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: Self.maximumAnswerBytes)
            switch response.status.code {
            case 204:
                return .allow
            case 200:
                let answer = try JSONDecoder().decode(Answer.self, from: Data(bytes.readableBytesView))
                switch answer.result {
                case "allow": return .allow
                case "deny": return .deny(.notAuthorized)
                case "ignore": return .ignore
                default:
                    logger.warning("the MQTT authentication service answered an unknown result; ignored", metadata: ["result": "\(answer.result)", "clientId": "\(clientId)"])
                    return .ignore
                }
            default:
                logger.warning("the MQTT authentication service answered an error status; ignored", metadata: [
                    "status": "\(response.status.code)", "clientId": "\(clientId)",
                ])
                return .ignore
            }
        } catch {
            logger.warning("the MQTT authentication service could not be asked; ignored", metadata: ["error": "\(error)", "clientId": "\(clientId)"])
            return .ignore
        }
    }

    private func remember(_ key: [UInt8], _ decision: MQTTAuthenticationDecision, now: NIODeadline) {
        cache.withLockedValue { cache in
            if cache.count >= Self.maximumCachedAnswers {
                cache = cache.filter { $0.value.expires > now }
                if cache.count >= Self.maximumCachedAnswers { cache.removeAll(keepingCapacity: true) }
            }
            cache[key] = (decision, now + cacheTTL)
        }
    }
}

/// The signed-password scheme of IoT device platforms, for devices provisioned with a secret: the client id
/// is `ID|securemode=2,signmethod=hmacsha256,timestamp=T|`, the user name `DEVICE&PRODUCT`, and the
/// password the hex HMAC, with the device's secret, of the fields `clientId`, `deviceName`, `productKey` and
/// (when given) `timestamp`, each name followed by its value, sorted by name. signmethod is hmacsha256,
/// hmacsha1 or hmacmd5. A device that signs correctly logs in as `DEVICE&PRODUCT` with client id `ID`;
/// a wrong signature is 0x86 (3.1.1: 4); clients whose id or user name has another shape, or whose device
/// has no secret, are left to the next authenticator. With `maximumSkew`, a timestamp (milliseconds) further
/// than that from the server's clock is refused too, so that an old password cannot be replayed forever.
struct SignedPasswordAuthenticator: MQTTAuthenticator {
    /// Secrets by `DEVICE&PRODUCT`.
    let secrets: [String: [UInt8]]
    let maximumSkewMilliseconds: Int64?
    let clock: @Sendable () -> Int64

    /// Reads the device secrets file: `PRODUCT DEVICE SECRET` per line, `#` comments.
    static func readSecrets(_ path: String) throws -> [String: [UInt8]] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("mqtt-device-secrets-file \(path) cannot be read: \(error.localizedDescription)")
        }
        var secrets: [String: [UInt8]] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3 else {
                throw ConfigurationError("mqtt-device-secrets-file \(path):\(index + 1): expected PRODUCT_KEY DEVICE_NAME SECRET")
            }
            secrets["\(fields[1])&\(fields[0])"] = Array(fields[2].utf8)
        }
        return secrets
    }

    struct Parsed: Equatable {
        var clientId: String
        var parameters: [String: String]
        var deviceName: String
        var productKey: String
    }

    static func parse(clientId: String, username: String?) -> Parsed? {
        let parts = clientId.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].isEmpty, !parts[0].isEmpty, let username else { return nil }
        var parameters: [String: String] = [:]
        for pair in parts[1].split(separator: ",") {
            let keyValue = pair.split(separator: "=", maxSplits: 1)
            guard keyValue.count == 2 else { return nil }
            parameters[String(keyValue[0])] = String(keyValue[1])
        }
        let names = username.split(separator: "&", omittingEmptySubsequences: false)
        guard names.count == 2, !names[0].isEmpty, !names[1].isEmpty, parameters["signmethod"] != nil else { return nil }
        return Parsed(clientId: String(parts[0]), parameters: parameters, deviceName: String(names[0]), productKey: String(names[1]))
    }

    /// The hex signature the device should send.
    static func signature(_ parsed: Parsed, secret: [UInt8]) -> String? {
        var fields = ["clientId": parsed.clientId, "deviceName": parsed.deviceName, "productKey": parsed.productKey]
        if let timestamp = parsed.parameters["timestamp"] { fields["timestamp"] = timestamp }
        let content = Array(fields.keys.sorted().map { $0 + fields[$0]! }.joined().utf8)
        let key = SymmetricKey(data: secret)
        let mac: [UInt8]
        switch parsed.parameters["signmethod"]?.lowercased() {
        case "hmacsha256": mac = Array(HMAC<SHA256>.authenticationCode(for: content, using: key))
        case "hmacsha1": mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: content, using: key))
        case "hmacmd5": mac = Array(HMAC<Insecure.MD5>.authenticationCode(for: content, using: key))
        default: return nil
        }
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision> {
        guard let parsed = Self.parse(clientId: credentials.clientId, username: credentials.username),
            let secret = secrets["\(parsed.deviceName)&\(parsed.productKey)"]
        else {
            return eventLoop.makeSucceededFuture(.ignore)
        }
        guard let expected = Self.signature(parsed, secret: secret), let password = credentials.password,
            ConstantTime.equal(Array(expected.utf8), Array(String(decoding: password, as: UTF8.self).lowercased().utf8))
        else {
            return eventLoop.makeSucceededFuture(.deny(.badUserNameOrPassword))
        }
        if let maximumSkewMilliseconds {
            // (Overflow-safe: the timestamp is the device's, any Int64.)
            guard let timestamp = parsed.parameters["timestamp"].flatMap({ Int64($0) }),
                case let (difference, overflow) = clock().subtractingReportingOverflow(timestamp), !overflow,
                difference.magnitude <= maximumSkewMilliseconds.magnitude
            else {
                return eventLoop.makeSucceededFuture(.deny(.notAuthorized))
            }
        }
        return eventLoop.makeSucceededFuture(.allowAs(username: credentials.username!, clientId: parsed.clientId, until: nil))
    }
}
