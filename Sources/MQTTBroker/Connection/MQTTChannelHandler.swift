import MQTTProtocol
import NIOCore

/// Frames MQTT packets out of a byte stream (TCP, or WebSocket frames already unwrapped) and hands them
/// to the broker core; watches the keep alive. Transport-agnostic: it reads and writes `ByteBuffer`s.
///
/// After a malformed packet it stops decoding: the core answers with the reason code and closes.
///
/// A CONNECT is first put to the core's authenticator chain, here on the connection's event loop (password
/// hashing and webhooks run off the loops). Until the answer comes the connection stops reading and what
/// it already read waits undecoded; then the CONNECT goes to the core with the answer, and decoding
/// resumes.
final class MQTTChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: MQTTBrokerCore
    private let maximumPacketSize: Int
    private var connectionId: UInt64 = 0
    private var cumulation: ByteBuffer? = nil
    private var version: MQTTProtocolVersion? = nil
    private var failed = false
    private var lastReadAt = NIODeadline.now()
    private var keepAliveTimeout: TimeAmount? = nil
    private var keepAliveCheck: Scheduled<Void>? = nil
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
    }

    func channelActive(context: ChannelHandlerContext) {
        connectionId = core.makeConnectionId()
        core.connectionOpened(MQTTConnectionHandle(id: connectionId, channel: context.channel))
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added to a channel that is already active (after a WebSocket upgrade).
        if context.channel.isActive && connectionId == 0 {
            connectionId = core.makeConnectionId()
            core.connectionOpened(MQTTConnectionHandle(id: connectionId, channel: context.channel))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var bytes = unwrapInboundIn(data)
        lastReadAt = .now()
        if cumulation == nil || cumulation!.readableBytes == 0 {
            cumulation = bytes
        } else {
            cumulation!.writeBuffer(&bytes)
        }
        decodeAvailable(context: context)
    }

    private func decodeAvailable(context: ChannelHandlerContext) {
        while !authenticating, var buffer = cumulation, buffer.readableBytes > 0 {
            let before = buffer.readableBytes
            let packet: MQTTPacket?
            do {
                cumulation = nil  // let the decode mutate without a copy
                packet = try MQTTPacketCodec.decode(from: &buffer, version: version, maximumPacketSize: maximumPacketSize)
                cumulation = buffer
            } catch {
                cumulation = nil
                failed = true
                core.protocolViolation(error, on: connectionId)
                return
            }
            guard let packet else { break }
            let size = before - buffer.readableBytes
            if case .connect(let connect) = packet, version == nil {
                version = connect.protocolVersion
                authenticate(connect, bytes: size, context: context)
                continue
            }
            core.received(packet, bytes: size, on: connectionId)
        }
        if let remaining = cumulation, remaining.readableBytes == 0 {
            cumulation = nil
        } else if var remaining = cumulation, remaining.readerIndex > 65_536 {
            remaining.discardReadBytes()
            cumulation = remaining
        }
    }

    private func authenticate(_ connect: MQTTConnect, bytes: Int, context: ChannelHandlerContext) {
        authenticating = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
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
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            handler.decodeAvailable(context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let certificate = event as? MQTTPeerCertificate {
            peerCertificate = certificate
            return
        }
        if let keepAlive = event as? MQTTKeepAlive {
            switch keepAlive {
            case .start(let timeout):
                keepAliveTimeout = timeout
                scheduleKeepAliveCheck(context: context, at: lastReadAt + timeout)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func scheduleKeepAliveCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        keepAliveCheck?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        keepAliveCheck = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.checkKeepAlive(context: context)
        }
    }

    private func checkKeepAlive(context: ChannelHandlerContext) {
        guard let timeout = keepAliveTimeout, context.channel.isActive else { return }
        let due = lastReadAt + timeout
        if due <= .now() {
            core.keepAliveExpired(connectionId)
        } else {
            scheduleKeepAliveCheck(context: context, at: due)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepAliveCheck?.cancel()
        keepAliveCheck = nil
        if connectionId != 0 { core.connectionClosed(connectionId) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Resets and the like: the connection is lost; channelInactive tells the core.
        core.logger.debug("mqtt connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
