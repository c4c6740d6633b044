import BenchHarness
import KafkaProtocol
import NIOCore
import NIOPosix

/// A minimal Kafka client connection for load generation: frames requests with the generated codec and
/// matches responses by correlation id (Kafka answers in request order on a connection). Every method runs
/// on the channel's event loop.
final class KafkaBenchConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var apiKey: KafkaApiKey
        var version: Int16
        var promise: EventLoopPromise<KafkaResponse>
    }

    private var context: ChannelHandlerContext?
    private var cumulation: ByteBuffer?
    private var pending: [Int32: Pending] = [:]
    private var nextCorrelationId: Int32 = 1
    private(set) var closed = false
    let clientId: String

    init(clientId: String) {
        self.clientId = clientId
    }

    var eventLoop: any EventLoop { context!.eventLoop }
    var inflight: Int { pending.count }

    static func connect(on loop: any EventLoop, to address: SocketAddress, clientId: String = "tributary-bench") -> EventLoopFuture<KafkaBenchConnection> {
        let connection = KafkaBenchConnection(clientId: clientId)
        return ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in channel.pipeline.addHandler(connection) }
            .connect(to: address)
            .map { _ in connection }
    }

    /// Sends a request; the future holds the decoded response. `flush: false` lets a caller write several
    /// requests and flush once.
    func send(_ request: KafkaRequest, version: Int16, flush: Bool = true) -> EventLoopFuture<KafkaResponse> {
        guard let context, !closed else {
            return (self.context?.eventLoop ?? MultiThreadedEventLoopGroup.currentEventLoop!).makeFailedFuture(BenchFailure("Kafka connection closed"))
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
            return context.eventLoop.makeFailedFuture(BenchFailure("encoding \(request.apiKey) v\(version): \(error)"))
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

    func flush() { context?.flush() }

    func close() {
        context?.close(promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if cumulation == nil {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        while let buffer = cumulation, let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self),
              buffer.readableBytes >= 4 + Int(size) {
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
            failAll(BenchFailure("a Kafka response with an unknown correlation id"), context: context)
            return
        }
        do {
            _ = try ResponseHeader(from: &frame, version: request.apiKey.responseHeaderVersion(for: request.version))
            let response = try KafkaResponse.decode(apiKey: request.apiKey, version: request.version, from: &frame)
            request.promise.succeed(response)
        } catch {
            request.promise.fail(BenchFailure("decoding \(request.apiKey) v\(request.version) response: \(error)"))
        }
    }

    private func failAll(_ error: any Error, context: ChannelHandlerContext) {
        let waiting = pending
        pending.removeAll()
        for request in waiting.values { request.promise.fail(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let waiting = pending
        pending.removeAll()
        for request in waiting.values { request.promise.fail(BenchFailure("Kafka connection closed by the broker")) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error, context: context)
    }
}

/// The request versions the bench sends: supported by Tributary and by Apache Kafka 3.x and 4.x.
enum KafkaVersions {
    static let produce: Int16 = 9
    static let fetch: Int16 = 12
    static let metadata: Int16 = 9
    static let createTopics: Int16 = 7
    static let listOffsets: Int16 = 7
    static let findCoordinator: Int16 = 3
    static let joinGroup: Int16 = 7
    static let syncGroup: Int16 = 5
    static let heartbeat: Int16 = 4
    static let leaveGroup: Int16 = 4
    static let apiVersions: Int16 = 3
}

/// Request helpers shared by the Kafka workloads.
extension KafkaBenchConnection {
    /// Creates `topic` with `partitions` partitions (an existing topic with that many is accepted) and waits
    /// until metadata lists all of its partitions with a leader.
    func ensureTopic(_ topic: String, partitions: Int) -> EventLoopFuture<Void> {
        var request = CreateTopicsRequest()
        var creatable = CreateTopicsRequest.CreatableTopic()
        creatable.name = topic
        creatable.numPartitions = Int32(partitions)
        creatable.replicationFactor = -1
        request.topics = [creatable]
        request.timeoutMs = 30_000
        return send(.createTopics(request), version: KafkaVersions.createTopics).flatMapThrowing { response in
            guard case .createTopics(let body) = response, let result = body.topics.first else {
                throw BenchFailure("unexpected CreateTopics response")
            }
            // 36 TOPIC_ALREADY_EXISTS is fine when it has the partitions asked for (checked by metadata below).
            guard result.errorCode == 0 || result.errorCode == 36 else {
                throw BenchFailure("CreateTopics \(topic): error \(result.errorCode) \(result.errorMessage ?? "")")
            }
        }.flatMap { self.partitionCount(topic) }.flatMapThrowing { count in
            guard count == partitions else {
                throw BenchFailure("topic \(topic) has \(count) partitions, the run asks for \(partitions)")
            }
        }
    }

    /// The number of partitions of `topic` with a leader, per metadata (0 if it does not exist).
    func partitionCount(_ topic: String) -> EventLoopFuture<Int> {
        var request = MetadataRequest()
        var wanted = MetadataRequest.MetadataRequestTopic()
        wanted.name = topic
        request.topics = [wanted]
        request.allowAutoTopicCreation = false
        return send(.metadata(request), version: KafkaVersions.metadata).flatMapThrowing { response in
            guard case .metadata(let body) = response else { throw BenchFailure("unexpected Metadata response") }
            guard let entry = body.topics.first(where: { $0.name == topic }), entry.errorCode == 0 else { return 0 }
            return entry.partitions.filter { $0.errorCode == 0 && $0.leaderId >= 0 }.count
        }
    }

    /// ListOffsets for every partition: `timestamp` -1 latest, -2 earliest.
    func offsets(_ topic: String, partitions: Int, timestamp: Int64) -> EventLoopFuture<[Int64]> {
        var request = ListOffsetsRequest()
        request.replicaId = -1
        var entry = ListOffsetsRequest.ListOffsetsTopic()
        entry.name = topic
        entry.partitions = (0..<partitions).map { index in
            var partition = ListOffsetsRequest.ListOffsetsPartition()
            partition.partitionIndex = Int32(index)
            partition.timestamp = timestamp
            return partition
        }
        request.topics = [entry]
        return send(.listOffsets(request), version: KafkaVersions.listOffsets).flatMapThrowing { response in
            guard case .listOffsets(let body) = response, let topicResponse = body.topics.first else {
                throw BenchFailure("unexpected ListOffsets response")
            }
            var offsets = [Int64](repeating: 0, count: partitions)
            for partition in topicResponse.partitions {
                guard partition.errorCode == 0 else {
                    throw BenchFailure("ListOffsets \(topic)-\(partition.partitionIndex): error \(partition.errorCode)")
                }
                if Int(partition.partitionIndex) < partitions { offsets[Int(partition.partitionIndex)] = partition.offset }
            }
            return offsets
        }
    }

    /// The broker's software name/version is not in the Kafka protocol; ApiVersions tells the API ranges.
    /// Returns the highest Produce and Fetch versions, for the run's record.
    func apiVersionSummary() -> EventLoopFuture<String> {
        send(.apiVersions(ApiVersionsRequest()), version: 0).map { response in
            guard case .apiVersions(let body) = response else { return "unknown" }
            let produce = body.apiKeys.first { $0.apiKey == KafkaApiKey.produce.rawValue }?.maxVersion ?? -1
            let fetch = body.apiKeys.first { $0.apiKey == KafkaApiKey.fetch.rawValue }?.maxVersion ?? -1
            return "Produce v\(produce), Fetch v\(fetch)"
        }
    }
}
