public import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Accepts MQTT connections: plain TCP, and MQTT over WebSocket (binary frames, subprotocol `mqtt`).
/// Both end in the same `MQTTChannelHandler`, which reads bytes and knows nothing of the transport, so a
/// TLS listener only has to put its handler in front.
public enum MQTTListener {
    /// The size of each connection's socket reads: starting at 256 bytes rather than NIO's 2 KiB and adapting
    /// (up to 64 KiB) to what the connection sends. The channel keeps its last read buffer for the next
    /// read, so an idle device's connection holds one buffer of this size.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536)

    /// Binds a TCP listener; returns its server channel (close it to stop accepting).
    /// `serverChannelSetup` adds handlers to the listening channel (the server's descriptor gate),
    /// `connectionSetup` to each accepted connection before the MQTT handlers (TLS).
    public static func bindTCP(
        host: String, port: Int, group: any EventLoopGroup, core: MQTTBrokerCore, listener: MQTTListenerKind = .tcp,
        serverChannelSetup: (@Sendable (any Channel) throws -> Void)? = nil, connectionSetup: (@Sendable (any Channel) throws -> Void)? = nil
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 4096)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try serverChannelSetup?(channel) }
            }
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: false)
            .childChannelOption(ChannelOptions.recvAllocator, value: MQTTListener.receiveBuffers)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try connectionSetup?(channel)
                    try channel.pipeline.syncOperations.addHandler(MQTTChannelHandler(core: core, listener: listener))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Binds a WebSocket listener that upgrades requests for `path` offering the `mqtt` subprotocol;
    /// `connectionSetup` runs first on each connection (TLS, for `wss`).
    public static func bindWebSocket(
        host: String, port: Int, path: String = "/mqtt", group: any EventLoopGroup, core: MQTTBrokerCore, listener: MQTTListenerKind = .webSocket,
        serverChannelSetup: (@Sendable (any Channel) throws -> Void)? = nil, connectionSetup: (@Sendable (any Channel) throws -> Void)? = nil
    ) async throws -> any Channel {
        let maximumFrameSize = max(1 << 16, core.configuration.maximumPacketSize + 16)
        return try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 4096)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try serverChannelSetup?(channel) }
            }
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.recvAllocator, value: MQTTListener.receiveBuffers)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: maximumFrameSize,
                    shouldUpgrade: { channel, head in
                        let requestPath = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                        let offered = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { $0.lowercased() }
                        guard requestPath == path, offered.contains("mqtt") || offered.contains("mqttv3.1") else {
                            return channel.eventLoop.makeSucceededFuture(nil)
                        }
                        var headers = HTTPHeaders()
                        headers.add(name: "Sec-WebSocket-Protocol", value: offered.contains("mqtt") ? "mqtt" : "mqttv3.1")
                        return channel.eventLoop.makeSucceededFuture(headers)
                    },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(WebSocketStreamHandler())
                            let certificate = try? channel.pipeline.syncOperations.handler(type: PeerCertificateMemory.self).certificate
                            try channel.pipeline.syncOperations.addHandler(MQTTChannelHandler(core: core, listener: listener, peerCertificate: certificate))
                        }
                    })
                let refusal = NotWebSocketHandler(path: path)
                do {
                    try connectionSetup?(channel)
                    // The TLS handshake (and its certificate event) completes before the upgrade adds the
                    // MQTT handler: keep the certificate for it.
                    try channel.pipeline.syncOperations.addHandler(PeerCertificateMemory())
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.pipeline.configureHTTPServerPipeline(
                    withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                        context.pipeline.removeHandler(refusal, promise: nil)
                    })
                ).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(refusal)
                }
            }
            .bind(host: host, port: port)
            .get()
    }
}

/// Which kind of listener a connection came through: authenticator chains may be set per kind.
public enum MQTTListenerKind: String, Sendable, CaseIterable {
    case tcp, webSocket = "ws", tls, secureWebSocket = "wss"
}

/// Remembers the client certificate the TLS layer reports, for the MQTT handler a WebSocket upgrade adds later.
private final class PeerCertificateMemory: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    var certificate: MQTTPeerCertificate?

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let certificate = event as? MQTTPeerCertificate { self.certificate = certificate }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Answers HTTP requests that are not a WebSocket upgrade to the MQTT path, and closes.
private final class NotWebSocketHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let path: String

    init(path: String) {
        self.path = path
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let body = "MQTT over WebSocket: upgrade a request for \(path) with the subprotocol mqtt\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .upgradeRequired, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}

/// Turns binary WebSocket frames into a byte stream and bytes into binary frames; answers pings and
/// close frames. MQTT packets may span frames and frames may hold several packets (MQTT 6.0).
private final class WebSocketStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            context.fireChannelRead(wrapInboundOut(frame.unmaskedData))
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            close(context: context, code: .normalClosure)
        case .text:
            // MQTT over WebSocket uses binary frames only [MQTT-6.0.0-1].
            close(context: context, code: .unacceptableData)
        default:
            close(context: context, code: .protocolError)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: promise)
    }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !closing else { return }
        closing = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
