import MQTTProtocol
import NIOCore

/// Frames MQTT packets out of a byte stream (TCP, or WebSocket frames already unwrapped) and hands them
/// to the broker core; watches the keep alive. Transport-agnostic: it reads and writes `ByteBuffer`s.
///
/// After a malformed packet it stops decoding: the core answers with the reason code and closes.
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

    init(core: MQTTBrokerCore) {
        self.core = core
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
        while var buffer = cumulation, buffer.readableBytes > 0 {
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
            if case .connect(let connect) = packet, version == nil {
                version = connect.protocolVersion
            }
            core.received(packet, bytes: before - buffer.readableBytes, on: connectionId)
        }
        if let remaining = cumulation, remaining.readableBytes == 0 {
            cumulation = nil
        } else if var remaining = cumulation, remaining.readerIndex > 65_536 {
            remaining.discardReadBytes()
            cumulation = remaining
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
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
