public import MQTTProtocol
import NIOConcurrencyHelpers
public import NIOCore

/// What a client presents at CONNECT, for the authenticators. The password is the client's secret: an
/// authenticator may check it and must never log or store it.
public struct MQTTCredentials: Sendable {
    public var clientId: String
    public var username: String?
    public var password: [UInt8]?
    /// `ip:port` of the peer.
    public var remoteAddress: String
    public var protocolVersion: MQTTProtocolVersion
    /// The client certificate the TLS handshake verified, if any.
    public var certificate: MQTTPeerCertificate?
    /// The listener the client came through.
    public var listener: MQTTListenerKind

    public init(
        clientId: String, username: String?, password: [UInt8]?, remoteAddress: String, protocolVersion: MQTTProtocolVersion,
        certificate: MQTTPeerCertificate? = nil, listener: MQTTListenerKind = .tcp
    ) {
        self.certificate = certificate
        self.listener = listener
        self.clientId = clientId
        self.username = username
        self.password = password
        self.remoteAddress = remoteAddress
        self.protocolVersion = protocolVersion
    }

    /// The peer's address without the port: what failures are counted by.
    var peerHost: String {
        guard let colon = remoteAddress.lastIndex(of: ":") else { return remoteAddress }
        return String(remoteAddress[..<colon])
    }
}

/// A verified client certificate, as the TLS layer reports it to the connection once the handshake
/// completes.
public struct MQTTPeerCertificate: Sendable, Equatable {
    public var subject: String
    public var commonName: String?
    public var dnsNames: [String]

    public init(subject: String, commonName: String?, dnsNames: [String]) {
        self.subject = subject
        self.commonName = commonName
        self.dnsNames = dnsNames
    }
}

/// One authenticator's answer. As in EMQX's chain, the first decisive answer wins; `ignore` passes the
/// client to the next authenticator.
public enum MQTTAuthenticationDecision: Sendable, Equatable {
    case allow
    /// Allowed, as this user name (and client id, when given): the identity a certificate or token names
    /// replaces what the CONNECT said. With `until` (milliseconds since the epoch, a token's expiry) the
    /// connection is closed then (0xA0 Maximum connect time).
    case allowAs(username: String, clientId: String?, until: Int64? = nil)
    /// Refused, with the MQTT 5 reason code (0x86 Bad user name or password, 0x87 Not authorized, ...).
    case deny(MQTTReasonCode)
    case ignore
}

/// A source of authentication answers: the user base, JWT, a webhook...
public protocol MQTTAuthenticator: Sendable {
    /// Answers on `eventLoop` (the connection's). Slow checks (password hashing, HTTP) run elsewhere.
    func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision>
}

/// The authenticators of a broker, asked in order (a listener kind may have a chain of its own,
/// `perListener`); the end of the chain (everyone ignored the client)
/// follows mosquitto: a client without a user name is let in only with `allowAnonymous`, a client with one
/// is refused unless no authenticator could know any user (`hasUsers` false: no users, and nothing but
/// the user base configured) and anonymous access is on.
///
/// Peers whose attempts keep failing are slowed down: after `maximumFailuresPerMinute` failures from one
/// address within a minute its further CONNECTs are refused at once (0x9F Connection rate exceeded; 3.1.1:
/// server unavailable) until the minute is over. The failure table is bounded (`maximumTrackedPeers`); when
/// full, the oldest entries go first.
public final class MQTTAuthenticatorChain: Sendable {
    public let authenticators: [any MQTTAuthenticator]
    public let perListener: [MQTTListenerKind: [any MQTTAuthenticator]]
    public let allowAnonymous: Bool
    private let hasUsers: @Sendable () -> Bool
    public let maximumFailuresPerMinute: Int
    static let maximumTrackedPeers = 100_000
    private let failures = NIOLockedValueBox<[String: (count: Int, windowStart: NIODeadline)]>([:])

    public init(
        authenticators: [any MQTTAuthenticator], perListener: [MQTTListenerKind: [any MQTTAuthenticator]] = [:], allowAnonymous: Bool,
        maximumFailuresPerMinute: Int = 10, hasUsers: @escaping @Sendable () -> Bool
    ) {
        self.authenticators = authenticators
        self.perListener = perListener
        self.allowAnonymous = allowAnonymous
        self.maximumFailuresPerMinute = maximumFailuresPerMinute
        self.hasUsers = hasUsers
    }

    /// The chain's answer: `.allow` or `.deny` (never `.ignore`).
    public func authenticate(_ credentials: MQTTCredentials, on eventLoop: any EventLoop) -> EventLoopFuture<MQTTAuthenticationDecision> {
        let now = NIODeadline.now()
        let host = credentials.peerHost
        let limited = failures.withLockedValue { table -> Bool in
            guard let entry = table[host] else { return false }
            if now - entry.windowStart > .minutes(1) {
                table[host] = nil
                return false
            }
            return entry.count >= maximumFailuresPerMinute
        }
        if limited {
            return eventLoop.makeSucceededFuture(.deny(.connectionRateExceeded))
        }
        return ask(0, perListener[credentials.listener] ?? authenticators, credentials, on: eventLoop).map { decision in
            let final: MQTTAuthenticationDecision
            switch decision {
            case .allow, .allowAs, .deny: final = decision
            case .ignore:
                if credentials.username == nil {
                    final = self.allowAnonymous ? .allow : .deny(.notAuthorized)
                } else {
                    final = self.allowAnonymous && !self.hasUsers() ? .allow : .deny(.badUserNameOrPassword)
                }
            }
            if case .deny = final { self.recordFailure(host, now: now) }
            return final
        }
    }

    private func ask(
        _ index: Int, _ chain: [any MQTTAuthenticator], _ credentials: MQTTCredentials, on eventLoop: any EventLoop
    ) -> EventLoopFuture<MQTTAuthenticationDecision> {
        guard index < chain.count else { return eventLoop.makeSucceededFuture(.ignore) }
        return chain[index].authenticate(credentials, on: eventLoop).flatMap { decision in
            decision == .ignore ? self.ask(index + 1, chain, credentials, on: eventLoop) : eventLoop.makeSucceededFuture(decision)
        }
    }

    private func recordFailure(_ host: String, now: NIODeadline) {
        failures.withLockedValue { table in
            if var entry = table[host], now - entry.windowStart <= .minutes(1) {
                entry.count += 1
                table[host] = entry
                return
            }
            if table.count >= Self.maximumTrackedPeers {
                // Forget windows that are over; if none is, the oldest.
                table = table.filter { now - $0.value.windowStart <= .minutes(1) }
                if table.count >= Self.maximumTrackedPeers, let oldest = table.min(by: { $0.value.windowStart < $1.value.windowStart })?.key {
                    table[oldest] = nil
                }
            }
            table[host] = (1, now)
        }
    }
}
