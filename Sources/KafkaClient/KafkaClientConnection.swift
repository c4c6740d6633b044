public import KafkaProtocol
public import NIOCore
import NIOPosix

/// What went wrong talking to a Kafka broker.
public struct KafkaClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A minimal Kafka client connection (the benchmark harness's load generator, the `tributary users`
/// commands): frames requests with the generated codec and matches responses by correlation id (Kafka
/// answers in request order on a connection). Every method runs on the channel's event loop. Written here
/// rather than wrapping a client library: no Swift Kafka client speaks the raw protocol with the codec's
/// types, and the load generator must control every request it sends.
public final class KafkaClientConnection: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private struct Pending {
        var apiKey: KafkaApiKey
        var version: Int16
        var promise: EventLoopPromise<KafkaResponse>
    }

    private var context: ChannelHandlerContext?
    private var cumulation: ByteBuffer?
    private var pending: [Int32: Pending] = [:]
    private var nextCorrelationId: Int32 = 1
    public private(set) var closed = false
    public let clientId: String

    public init(clientId: String) {
        self.clientId = clientId
    }

    /// The connection's loop. (Read off the loop too: `connect` completes after `handlerAdded` set it.)
    public var eventLoop: any EventLoop { context!.eventLoop }
    public var inflight: Int { pending.count }

    /// Connects; `tls` adds a TLS handler (NIOSSL) in front, for SSL and SASL_SSL listeners.
    public static func connect(
        on loop: any EventLoop, to address: SocketAddress, clientId: String = "tributary-bench",
        tls: (@Sendable (any Channel) throws -> Void)? = nil
    ) -> EventLoopFuture<KafkaClientConnection> {
        let connection = KafkaClientConnection(clientId: clientId)
        return ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                do {
                    try tls?(channel)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.pipeline.addHandler(connection)
            }
            .connect(to: address)
            .map { _ in connection }
    }

    /// Sends a request; the future holds the decoded response. `flush: false` lets a caller write several
    /// requests and flush once.
    public func send(_ request: KafkaRequest, version: Int16, flush: Bool = true) -> EventLoopFuture<KafkaResponse> {
        guard let context, !closed else {
            return (self.context?.eventLoop ?? MultiThreadedEventLoopGroup.currentEventLoop!).makeFailedFuture(KafkaClientError("Kafka connection closed"))
        }
        let correlationId = nextCorrelationId
        nextCorrelationId = nextCorrelationId == Int32.max ? 1 : nextCorrelationId + 1
        var header = RequestHeader()
        header.requestApiKey = request.apiKey.rawValue
        header.requestApiVersion = version
        header.correlationId = correlationId
        header.clientId = clientId
        var buffer = context.channel.allocator.buffer(capacity: 256)
        do {
            try KafkaRequestFrame(header: header, body: request).encode(into: &buffer)
        } catch {
            return context.eventLoop.makeFailedFuture(KafkaClientError("encoding \(request.apiKey) v\(version): \(error)"))
        }
        let promise = context.eventLoop.makePromise(of: KafkaResponse.self)
        pending[correlationId] = Pending(apiKey: request.apiKey, version: version, promise: promise)
        if flush {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
        return promise.futureResult
    }

    public func flush() { context?.flush() }

    /// Closes the connection; callable from any thread (the channel hops to its loop, as TLS requires).
    public func close() {
        context?.channel.close(promise: nil)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if cumulation == nil {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        while let buffer = cumulation, let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) {
            guard size >= 0 else {
                failAll(KafkaClientError("a Kafka response frame with a negative size"), context: context)
                return
            }
            guard buffer.readableBytes >= 4 + Int(size) else { break }
            var rest = buffer
            rest.moveReaderIndex(forwardBy: 4)
            var frame = rest.readSlice(length: Int(size))!
            cumulation = rest.readableBytes > 0 ? rest : nil
            handleFrame(&frame, context: context)
        }
        if var buffer = cumulation, buffer.readerIndex > 1 << 20 {
            buffer.discardReadBytes()
            cumulation = buffer
        }
    }

    private func handleFrame(_ frame: inout ByteBuffer, context: ChannelHandlerContext) {
        guard let correlationId = frame.getInteger(at: frame.readerIndex, as: Int32.self),
              let request = pending.removeValue(forKey: correlationId)
        else {
            failAll(KafkaClientError("a Kafka response with an unknown correlation id"), context: context)
            return
        }
        do {
            _ = try ResponseHeader(from: &frame, version: request.apiKey.responseHeaderVersion(for: request.version))
            let response = try KafkaResponse.decode(apiKey: request.apiKey, version: request.version, from: &frame)
            request.promise.succeed(response)
        } catch {
            request.promise.fail(KafkaClientError("decoding \(request.apiKey) v\(request.version) response: \(error)"))
        }
    }

    private func failAll(_ error: any Error, context: ChannelHandlerContext) {
        let waiting = pending
        pending.removeAll()
        for request in waiting.values { request.promise.fail(error) }
        context.close(promise: nil)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let waiting = pending
        pending.removeAll()
        for request in waiting.values { request.promise.fail(KafkaClientError("Kafka connection closed by the broker")) }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error, context: context)
    }
}
