import DequeModule
#if canImport(Glibc)
import Glibc
#endif
import LogStore
import KafkaProtocol
import Logging
import NIOCore

/// One client connection. Requests are started one at a time in arrival order (so their side effects,
/// such as appends, happen in that order, as on Apache Kafka), but a request whose handler says it is
/// "ready" early (a Produce once its batches are queued, a Fetch that is waiting for data) lets the next
/// one start while its response is still pending. Responses are written strictly in request order.
/// Reading stops while too many responses are outstanding.
final class KafkaConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = IOData

    private let broker: Broker
    private let coordinator: GroupCoordinator
    private let endpoint: KafkaEndpoint
    private let session: KafkaSession
    private var logger: Logger
    private var waitingFrames: Deque<ByteBuffer> = []
    private var startingRequest = false
    /// Responses not yet written, oldest first.
    private var outstandingResponses = 0
    private var lastWrite: EventLoopFuture<Void>?
    private var readHeld = false
    private var closing = false
    private var clientHost = ""

    init(broker: Broker, coordinator: GroupCoordinator, endpoint: KafkaEndpoint, logger: Logger) {
        self.broker = broker
        self.coordinator = coordinator
        self.endpoint = endpoint
        self.session = KafkaSession(securityProtocol: endpoint.securityProtocol)
        self.logger = logger
    }

    private var mayRead: Bool {
        outstandingResponses + waitingFrames.count < broker.configuration.maxInFlightRequestsPerConnection
    }

    func channelActive(context: ChannelHandlerContext) {
        if let remote = context.remoteAddress {
            logger[metadataKey: "client"] = "\(remote)"
            clientHost = "/" + (remote.ipAddress ?? "unknown")
        }
        lastWrite = context.eventLoop.makeSucceededVoidFuture()
        logger.debug("connection opened")
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        logger.debug("connection closed")
        closing = true
        waitingFrames.removeAll()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        waitingFrames.append(unwrapInboundIn(data))
        startNextRequest(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if mayRead {
            context.read()
        } else {
            readHeld = true
        }
    }

    private func resumeReadingIfPossible(context: ChannelHandlerContext) {
        if readHeld && mayRead && !closing {
            readHeld = false
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is InvalidFrameSize {
            logger.warning("closing connection: \(error)")
        } else if let decoderError = error as? ByteToMessageDecoderError, case .dataReceivedInErrorState = decoderError {
            // Already reported; the connection is closing.
        } else {
            logger.info("closing connection after an error", metadata: ["error": "\(error)"])
        }
        close(context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let certificate = event as? KafkaPeerCertificate {
            if !endpoint.securityProtocol.usesSASL {
                session.principal = "User:\(certificate.subject)"
                logger[metadataKey: "principal"] = "\(session.principal)"
            }
            return
        }
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            // The half-frame-then-silence case lands here too.
            logger.info("closing idle connection", metadata: ["idleMilliseconds": "\(broker.configuration.connectionsMaxIdleMilliseconds)"])
            close(context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func close(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        waitingFrames.removeAll()
        context.close(promise: nil)
    }

    /// Writes a response: its bytes, and the file ranges of a Fetch through sendfile(2) on a descriptor of
    /// their own (duplicated, so retention deleting the segment meanwhile does not matter; closed once written).
    private func write(_ outbound: OutboundResponse, context: ChannelHandlerContext) {
        for part in outbound.parts {
            switch part {
            case .bytes(let bytes):
                context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: nil)
            case .file(let file, let range):
                let descriptor = dup(file.descriptor)
                guard descriptor >= 0 else {
                    // Out of descriptors: this response cannot be completed; the connection goes (the client retries).
                    logger.error("cannot send stored records: dup failed; closing the connection", metadata: ["errno": "\(errno)"])
                    close(context: context)
                    return
                }
                let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
                let promise = context.eventLoop.makePromise(of: Void.self)
                promise.futureResult.whenComplete { _ in try? handle.close() }
                context.write(wrapOutboundOut(.fileRegion(FileRegion(fileHandle: handle, readerIndex: range.lowerBound, endIndex: range.upperBound))), promise: promise)
            }
        }
        context.flush()
    }

    private func startNextRequest(context: ChannelHandlerContext) {
        guard !startingRequest, !closing, let frame = waitingFrames.popFirst() else { return }
        startingRequest = true
        let outcome = ApiDispatcher.start(
            frame: frame, broker: broker, coordinator: coordinator, endpoint: endpoint, session: session, eventLoop: context.eventLoop,
            clientHost: clientHost, logger: logger)
        switch outcome {
        case .close(let reason):
            logger.warning("closing connection: \(reason)")
            startingRequest = false
            close(context: context)
            return
        case .started(let started):
            if let response = started.response {
                outstandingResponses += 1
                let previous = lastWrite ?? context.eventLoop.makeSucceededVoidFuture()
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let eventLoop = context.eventLoop
                lastWrite = previous.flatMap { response.hop(to: eventLoop) }.map { outbound in
                    let (handler, context) = loopBound.value
                    handler.outstandingResponses -= 1
                    if !handler.closing {
                        handler.write(outbound, context: context)
                        if handler.session.closeAfterResponse {
                            // A failed authentication: the answer goes out, then the connection closes.
                            handler.closing = true
                            handler.waitingFrames.removeAll()
                            context.writeAndFlush(handler.wrapOutboundOut(.byteBuffer(ByteBuffer()))).whenComplete { _ in context.close(promise: nil) }
                        }
                    }
                    handler.resumeReadingIfPossible(context: context)
                }.flatMapErrorThrowing { error in
                    let (handler, context) = loopBound.value
                    handler.logger.error("a request failed without a response; closing the connection", metadata: ["error": "\(error)"])
                    handler.close(context: context)
                }
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            started.ready.hop(to: context.eventLoop).whenComplete { _ in
                let (handler, context) = loopBound.value
                handler.startingRequest = false
                handler.resumeReadingIfPossible(context: context)
                handler.startNextRequest(context: context)
            }
        }
    }
}
