import MQTTProtocol
import NIOCore

/// Frames and decodes MQTT packets out of a byte stream (TCP, or WebSocket frames already unwrapped) with
/// `MQTTPacketDecoder` in NIO's `NIOSingleStepByteToMessageProcessor`, hands them to the broker core, and
/// watches the keep alive. Transport-agnostic: it reads and writes `ByteBuffer`s.
///
/// The processor lives in this handler rather than in a `ByteToMessageHandler` of its own: an idle
/// connection then holds no extra handler, context or buffer (measured with 8,000 idle connections: 0.6
/// KiB more per connection with a `ByteToMessageHandler` in front).
///
/// After a malformed packet nothing more is decoded: the core answers with the reason code and closes.
///
/// The handler holds the channel's reads back (the socket is not read, the client's TCP window fills) in two
/// cases:
/// - while a CONNECT is put to the core's authenticator chain, here on the connection's event loop (password
///   hashing and webhooks run off the loops): the packets already read (what the client sent with its
///   CONNECT, at most one socket read) wait here, then follow the CONNECT to the core with the answer;
/// - while the core says too many of the connection's publishes are being stored (`MQTTReadControl`).
final class MQTTChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: MQTTBrokerCore
    private let maximumPacketSize: Int
    private var connectionId: UInt64 = 0
    private var processor: NIOSingleStepByteToMessageProcessor<MQTTPacketDecoder>
    /// Set by the first CONNECT; a fresh processor's decoder starts with it.
    private var version: MQTTProtocolVersion? = nil
    /// Packets read while the CONNECT is being authenticated (reading is off meanwhile: bounded by what
    /// the last socket read held).
    private var heldWhileAuthenticating: [MQTTFramedPacket] = []
    /// A decode error that came after them: reported once they went to the core, in wire order.
    private var heldError: MQTTDecodingError? = nil
    private var connected = false
    /// Reads are held back for the core (its publishes are being stored).
    private var heldForStorage = false
    /// A read came while reads were held: it is issued when they are let go.
    private var readOwed = false
    private var failed = false
    private var lastReadAt = NIODeadline.now()
    /// The keep alive (1.5 × the negotiated interval) once CONNECT set it; this loop's `KeepAliveWatch`
    /// checks it.
    private var keepAliveTimeout: TimeAmount? = nil
    /// The watch this connection is registered with while its keep alive is on.
    private(set) var keepAliveWatch: KeepAliveWatch? = nil
    private var authenticating = false
    /// The client certificate the TLS layer verified, if any.
    private var peerCertificate: MQTTPeerCertificate? = nil
    /// Which listener the connection came through (its authenticator chain may be its own).
    private let listener: MQTTListenerKind

    /// `peerCertificate`: a certificate verified before this handler was added (WebSocket over TLS, where
    /// the handshake completes before the HTTP upgrade).
    init(core: MQTTBrokerCore, listener: MQTTListenerKind = .tcp, peerCertificate: MQTTPeerCertificate? = nil) {
        self.core = core
        self.listener = listener
        self.peerCertificate = peerCertificate
        self.maximumPacketSize = core.configuration.maximumPacketSize
        processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(maximumPacketSize: core.configuration.maximumPacketSize))
    }

    func channelActive(context: ChannelHandlerContext) {
        opened(context: context)
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added to a channel that is already active (after a WebSocket upgrade).
        if context.channel.isActive && connectionId == 0 {
            opened(context: context)
        }
    }

    private func opened(context: ChannelHandlerContext) {
        let connectionId = core.makeConnectionId()
        self.connectionId = connectionId
        let core = self.core
        core.connectionOpened(MQTTConnectionHandle(id: connectionId, channel: context.channel) { core.connectionHasRoom(connectionId) })
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && connectionId != 0 { core.connectionHasRoom(connectionId) }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        lastReadAt = .now()
        do {
            try processor.process(buffer: unwrapInboundIn(data)) { framed in
                self.arrived(framed, context: context)
            }
        } catch let error as MQTTDecodingError {
            if authenticating {
                heldError = heldError ?? error
            } else {
                reportDecodingError(error)
            }
            return
        } catch {
            // The decoder throws MQTTDecodingError only; anything else is a bug worth a trace.
            core.logger.error("mqtt packet decoding failed unexpectedly; closing the connection", metadata: ["error": "\(error)"])
            failed = true
            context.close(promise: nil)
            return
        }
        if processor.unprocessedBytes == 0 {
            // Let go of the last read's buffer: an idle connection keeps none.
            processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(maximumPacketSize: maximumPacketSize, version: version))
        }
    }

    private func arrived(_ framed: MQTTFramedPacket, context: ChannelHandlerContext) {
        guard !failed else { return }
        if version == nil, case .connect(let connect) = framed.packet {
            version = connect.protocolVersion
        }
        if authenticating {
            heldWhileAuthenticating.append(framed)
            return
        }
        handle(framed, context: context)
    }

    private func handle(_ framed: MQTTFramedPacket, context: ChannelHandlerContext) {
        if case .connect(let connect) = framed.packet, !connected {
            connected = true
            authenticate(connect, bytes: framed.bytes, context: context)
            return
        }
        core.received(framed.packet, bytes: framed.bytes, on: connectionId)
    }

    private func authenticate(_ connect: MQTTConnect, bytes: Int, context: ChannelHandlerContext) {
        authenticating = true
        let credentials = MQTTCredentials(
            clientId: connect.clientId, username: connect.username, password: connect.password.map { Array($0.readableBytesView) },
            remoteAddress: context.channel.remoteAddress.map { "\($0.ipAddress ?? "unknown"):\($0.port ?? 0)" } ?? "unknown",
            protocolVersion: connect.protocolVersion, certificate: peerCertificate, listener: listener)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let connectionId = self.connectionId
        core.authentication.authenticate(credentials, on: context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            let decision: MQTTAuthenticationDecision
            switch result {
            case .success(let answer): decision = answer
            case .failure(let error):
                handler.core.logger.error("mqtt authentication failed with an error; refusing the client", metadata: ["error": "\(error)"])
                decision = .deny(.unspecifiedError)
            }
            handler.core.received(.connect(connect), bytes: bytes, on: connectionId, authentication: decision)
            handler.authenticating = false
            guard context.channel.isActive else { return }
            let held = handler.heldWhileAuthenticating
            handler.heldWhileAuthenticating = []
            for framed in held where !handler.failed { handler.handle(framed, context: context) }
            if let error = handler.heldError {
                handler.heldError = nil
                handler.reportDecodingError(error)
                return
            }
            handler.readIfOwed(context: context)
        }
    }

    func read(context: ChannelHandlerContext) {
        if authenticating || heldForStorage {
            readOwed = true
        } else {
            context.read()
        }
    }

    private func readIfOwed(context: ChannelHandlerContext) {
        guard readOwed, !authenticating, !heldForStorage else { return }
        readOwed = false
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let control = event as? MQTTReadControl {
            heldForStorage = control.hold
            readIfOwed(context: context)
            return
        }
        if let certificate = event as? MQTTPeerCertificate {
            peerCertificate = certificate
            return
        }
        if let keepAlive = event as? MQTTKeepAlive {
            switch keepAlive {
            case .start(let timeout):
                // Closed meanwhile: channelInactive has run, nothing would let go of the watch.
                guard context.channel.isActive else { return }
                keepAliveTimeout = timeout
                if keepAliveWatch == nil {
                    let watch = KeepAliveWatch.current(on: context.eventLoop)
                    watch.watch(self)
                    keepAliveWatch = watch
                }
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Asked by the loop's `KeepAliveWatch`: whether the client has been silent past its keep alive (then
    /// the core closes the connection, and the watch lets go of it).
    func keepAliveExpired(now: NIODeadline) -> Bool {
        guard let timeout = keepAliveTimeout else { return true }
        guard lastReadAt + timeout <= now else { return false }
        keepAliveTimeout = nil
        keepAliveWatch = nil
        core.keepAliveExpired(connectionId)
        return true
    }

    private func stopKeepAlive() {
        keepAliveTimeout = nil
        keepAliveWatch?.unwatch(self)
        keepAliveWatch = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopKeepAlive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopKeepAlive()
        if connectionId != 0 { core.connectionClosed(connectionId) }
        context.fireChannelInactive()
    }

    /// From the decoder: the core answers with the reason code (CONNACK or DISCONNECT) and closes.
    private func reportDecodingError(_ error: MQTTDecodingError) {
        guard !failed else { return }
        failed = true
        core.protocolViolation(error, on: connectionId)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets and the like: the connection is lost; channelInactive tells the core.
        core.logger.debug("mqtt connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
