import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import X509
import NIOTLS
import ServiceLifecycle
import UnixSignals

/// The server's TLS context, shared by every TLS listener (Kafka SSL, MQTT over TLS, MQTT over secure
/// WebSocket). Built from PEM files with swift-nio-ssl (BoringSSL); TLS 1.2 is the oldest version offered.
/// SIGHUP reads the files again: connections accepted afterwards use the new certificate, open ones keep
/// the session they negotiated, and files that do not load leave the old context in place.
final class TLSContexts: Sendable {
    let settings: TLSSettings
    let logger: Logger
    private let current: NIOLockedValueBox<NIOSSLContext>

    init(settings: TLSSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        current = NIOLockedValueBox(try Self.makeContext(settings))
    }

    static func makeContext(_ settings: TLSSettings) throws -> NIOSSLContext {
        guard let chainFile = settings.certificateChainFile, let keyFile = settings.privateKeyFile else {
            throw ConfigurationError("a TLS listener needs tls-cert and tls-key (PEM files)")
        }
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(chainFile)
        } catch {
            throw ConfigurationError("tls-cert \(chainFile): \(error)")
        }
        guard !chain.isEmpty else { throw ConfigurationError("tls-cert \(chainFile) holds no PEM certificate") }
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw ConfigurationError("tls-key \(keyFile): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        switch settings.clientAuthentication {
        case .none:
            configuration.certificateVerification = .none
        case .optional:
            configuration.certificateVerification = .optionalVerification
        case .require:
            configuration.certificateVerification = .noHostnameVerification
        }
        if let authorities = settings.trustedCertificateAuthoritiesFile {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(authorities)
            } catch {
                throw ConfigurationError("tls-ca \(authorities): \(error)")
            }
            guard !roots.isEmpty else { throw ConfigurationError("tls-ca \(authorities) holds no PEM certificate") }
            configuration.trustRoots = .certificates(roots)
            // Clients with several certificates (the Java client's keystore) pick one these CAs issued.
            configuration.sendCANameList = settings.clientAuthentication != .none
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError("tls-cert \(chainFile) with tls-key \(keyFile): \(error)")
        }
    }

    /// Reads the certificate, key and CA files again; on failure the previous context stays.
    @discardableResult
    func reload() -> Bool {
        do {
            let context = try Self.makeContext(settings)
            current.withLockedValue { $0 = context }
            logger.info("tls certificates reloaded", metadata: ["certificate": "\(settings.certificateChainFile ?? "")"])
            return true
        } catch {
            logger.error("tls reload refused; the previous certificates stay in use", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Puts TLS in front of an accepted connection; called on the channel's event loop.
    func install(on channel: any Channel, listener: String, identityEvent: (@Sendable (PeerCertificateIdentity) -> any Sendable)? = nil) throws {
        let context = current.withLockedValue { $0 }
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        try channel.pipeline.syncOperations.addHandler(TLSHandshakeReporter(listener: listener, logger: logger, identityEvent: identityEvent))
    }
}

/// Logs a failed handshake (wrong protocol version, a client certificate that does not verify, plaintext on
/// a TLS port) as one line naming the peer, and closes the connection; errors after the handshake go on
/// to the protocol handler (it leaves the pipeline once the handshake completes).
final class TLSHandshakeReporter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let listener: String
    let logger: Logger
    /// Turns the client certificate's identity into the event the protocol handler understands.
    let identityEvent: (@Sendable (PeerCertificateIdentity) -> any Sendable)?
    private var completed = false

    init(listener: String, logger: Logger, identityEvent: (@Sendable (PeerCertificateIdentity) -> any Sendable)? = nil) {
        self.listener = listener
        self.logger = logger
        self.identityEvent = identityEvent
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event, !completed {
            completed = true
            // The certificate (verified against tls-ca during the handshake) names the client; the
            // protocol handler learns it before the first byte of application data.
            if let identityEvent, let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate() {
                do {
                    let identity = try PeerCertificateIdentity(der: try certificate.toDERBytes())
                    context.fireUserInboundEventTriggered(identityEvent(identity))
                } catch {
                    logger.warning("client certificate unreadable; the client has no certificate identity", metadata: [
                        "listener": "\(listener)", "error": "\(error)",
                    ])
                }
            }
            // Nothing more to watch: get out of the read path.
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !completed else {
            context.fireErrorCaught(error)
            return
        }
        // A peer that hangs up before finishing its hello (a port probe, a load balancer's health check) is
        // not worth a notice; BoringSSL reports it only in the error's text.
        let level: Logger.Level = "\(error)".contains("EOF during handshake") ? .debug : .notice
        logger.log(level: level, "tls handshake failed", metadata: [
            "listener": "\(listener)", "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")", "error": "\(error)",
        ])
        context.close(promise: nil)
    }
}

/// Reloads the TLS certificates on SIGHUP (the MQTT service reloads rules and downlinks on the same signal).
struct TLSReloadService: Service {
    let contexts: TLSContexts

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                if Task.isCancelled { return }
                contexts.reload()
            }
        }
    }
}

/// What a verified client certificate says about its holder: the subject as Kafka writes principals
/// (RFC 4514, most specific first: `CN=device-1,O=Acme`), its common name and DNS names.
struct PeerCertificateIdentity: Sendable {
    var subject: String
    var commonName: String?
    var dnsNames: [String]

    init(der: [UInt8]) throws {
        let certificate = try Certificate(derEncoded: der)
        subject = certificate.subject.description
        commonName = certificate.subject.lazy.flatMap { $0 }.first { $0.type == .RDNAttributeType.commonName }.flatMap { String($0.value) }
        dnsNames = (try? certificate.extensions.subjectAlternativeNames)??.compactMap { name -> String? in
            if case .dnsName(let dns) = name { return dns }
            return nil
        } ?? []
    }
}
