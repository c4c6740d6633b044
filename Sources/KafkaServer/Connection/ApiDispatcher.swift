import KafkaProtocol
import Logging
import NIOCore

/// What a handler hands back: when the next request on the connection may start, and the encoded response
/// (nil for a Produce with acks=0, which gets none).
struct StartedRequest {
    var ready: EventLoopFuture<Void>
    var response: EventLoopFuture<OutboundResponse>?
}

enum DispatchOutcome {
    case started(StartedRequest)
    /// The request cannot be answered: Apache Kafka closes the connection in these cases.
    case close(String)
}

/// Everything a handler needs about the request it serves.
struct RequestContext {
    var header: RequestHeader
    var broker: Broker
    var coordinator: GroupCoordinator
    /// The listener the request came through: the address to advertise, whether sendfile may be used.
    var endpoint: KafkaEndpoint
    /// Who is on the connection and where its SASL authentication stands.
    var session: KafkaSession
    var eventLoop: any EventLoop
    var logger: Logger
    /// The client's address as Kafka reports it in group descriptions, e.g. "/127.0.0.1".
    var clientHost: String


    var version: Int16 { header.requestApiVersion }

    /// Encodes a response future into the frame to write.
    func encode<Response: KafkaResponseMessage>(_ response: EventLoopFuture<Response>) -> EventLoopFuture<OutboundResponse> {
        let correlationId = header.correlationId
        let version = self.version
        return response.flatMapThrowing { body in
            var buffer = ByteBuffer()
            try KafkaResponseFrame.encode(body, correlationId: correlationId, version: version, into: &buffer)
            return OutboundResponse(buffer)
        }
    }

    /// A request whose response is its only effect: the next request waits for it, as on Apache Kafka.
    func serial<Response: KafkaResponseMessage>(_ response: EventLoopFuture<Response>) -> StartedRequest {
        let encoded = encode(response)
        return StartedRequest(ready: encoded.map { _ in }.recover { _ in }, response: encoded)
    }

    func serial<Response: KafkaResponseMessage>(_ response: Response) -> StartedRequest {
        serial(eventLoop.makeSucceededFuture(response))
    }
}

/// Which APIs this broker implements, at which versions, and which handler serves each.
enum ApiDispatcher {
    /// The versions advertised in ApiVersions. Requests outside them close the connection (except
    /// ApiVersions itself, answered per KIP-511).
    static let supportedVersions: [(KafkaApiKey, ClosedRange<Int16>)] = [
        (.produce, 0...11),
        (.fetch, 4...17),
        (.listOffsets, 0...9),
        (.metadata, 0...12),
        (.offsetCommit, 0...9),
        (.offsetFetch, 0...9),
        (.findCoordinator, 0...6),
        (.joinGroup, 0...9),
        (.heartbeat, 0...4),
        (.leaveGroup, 0...5),
        (.syncGroup, 0...5),
        (.describeGroups, 0...5),
        (.listGroups, 0...5),
        (.apiVersions, 0...4),
        (.createTopics, 0...7),
        (.deleteTopics, 0...6),
        (.deleteRecords, 0...2),
        (.deleteGroups, 0...2),
        (.initProducerId, 0...5),
        (.offsetForLeaderEpoch, 0...4),
        (.describeConfigs, 0...4),
        (.alterConfigs, 0...2),
        (.describeLogDirs, 0...4),
        (.createPartitions, 0...3),
        (.incrementalAlterConfigs, 0...1),
        (.describeCluster, 0...1),
        (.describeProducers, 0...0),
        (.offsetDelete, 0...0),
        (.describeTopicPartitions, 0...0),
        (.saslHandshake, 0...1),
        (.saslAuthenticate, 0...2),
        (.describeUserScramCredentials, 0...0),
        (.alterUserScramCredentials, 0...0),
        (.describeAcls, 0...3),
        (.createAcls, 0...3),
        (.deleteAcls, 0...3),
    ]

    static let supportedByKey: [KafkaApiKey: ClosedRange<Int16>] = Dictionary(uniqueKeysWithValues: supportedVersions)

    static func start(
        frame: ByteBuffer, broker: Broker, coordinator: GroupCoordinator, endpoint: KafkaEndpoint, session: KafkaSession, eventLoop: any EventLoop,
        clientHost: String, logger: Logger
    ) -> DispatchOutcome {
        if session.expectsRawToken {
            return .started(SaslAuthenticateHandler.handleRawToken(frame, session: session, broker: broker, eventLoop: eventLoop, logger: logger))
        }
        var frame = frame
        let header: RequestHeader
        do {
            header = try KafkaRequestFrame.decodeHeader(from: &frame)
        } catch {
            return .close("unreadable request header: \(error)")
        }
        var logger = logger
        logger[metadataKey: "correlationId"] = "\(header.correlationId)"
        guard let apiKey = KafkaApiKey(rawValue: header.requestApiKey), let versions = supportedByKey[apiKey] else {
            let name = KafkaApiKey(rawValue: header.requestApiKey)?.name ?? "unknown"
            return .close("request for api key \(header.requestApiKey) (\(name)) version \(header.requestApiVersion), which this broker does not implement")
        }
        logger[metadataKey: "api"] = "\(apiKey.name)v\(header.requestApiVersion)"
        if let refusal = session.refusal(of: apiKey, now: .now()) {
            return .close(refusal)
        }
        let context = RequestContext(
            header: header, broker: broker, coordinator: coordinator, endpoint: endpoint, session: session, eventLoop: eventLoop, logger: logger,
            clientHost: clientHost)
        guard versions.contains(header.requestApiVersion) else {
            if apiKey == .apiVersions {
                // KIP-511: answer with the full key list in a v0 body so that the client can pick a version.
                logger.info("ApiVersions version \(header.requestApiVersion) is newer than supported; answering with v0")
                var v0 = context
                v0.header.requestApiVersion = 0
                return .started(v0.serial(ApiVersionsHandler.unsupportedVersionResponse()))
            }
            return .close("\(apiKey.name) version \(header.requestApiVersion) is not supported (supported: \(versions.lowerBound)-\(versions.upperBound))")
        }
        let body: KafkaRequest
        do {
            body = try KafkaRequestFrame.decodeBody(header: header, from: &frame)
        } catch {
            return .close("malformed request: \(error)")
        }
        if frame.readableBytes > 0 {
            // Apache Kafka ignores what follows the last field; librdkafka's Metadata v12 sends 3 such bytes.
            logger.debug("ignored bytes after the request's last field", metadata: ["bytes": "\(frame.readableBytes)"])
        }
        switch body {
        case .apiVersions(let request): return .started(ApiVersionsHandler.handle(request, context: context))
        case .metadata(let request): return .started(MetadataHandler.handle(request, context: context))
        case .produce(let request): return .started(ProduceHandler.handle(request, context: context))
        case .fetch(let request): return .started(FetchHandler.handle(request, context: context))
        case .listOffsets(let request): return .started(ListOffsetsHandler.handle(request, context: context))
        case .createTopics(let request): return .started(CreateTopicsHandler.handle(request, context: context))
        case .deleteTopics(let request): return .started(DeleteTopicsHandler.handle(request, context: context))
        case .createPartitions(let request): return .started(CreatePartitionsHandler.handle(request, context: context))
        case .deleteRecords(let request): return .started(DeleteRecordsHandler.handle(request, context: context))
        case .describeConfigs(let request): return .started(DescribeConfigsHandler.handle(request, context: context))
        case .alterConfigs(let request): return .started(AlterConfigsHandler.handle(request, context: context))
        case .incrementalAlterConfigs(let request): return .started(IncrementalAlterConfigsHandler.handle(request, context: context))
        case .describeCluster(let request): return .started(DescribeClusterHandler.handle(request, context: context))
        case .describeLogDirs(let request): return .started(DescribeLogDirsHandler.handle(request, context: context))
        case .describeTopicPartitions(let request): return .started(DescribeTopicPartitionsHandler.handle(request, context: context))
        case .offsetForLeaderEpoch(let request): return .started(OffsetForLeaderEpochHandler.handle(request, context: context))
        case .initProducerId(let request): return .started(InitProducerIdHandler.handle(request, context: context))
        case .describeProducers(let request): return .started(DescribeProducersHandler.handle(request, context: context))
        case .findCoordinator(let request): return .started(FindCoordinatorHandler.handle(request, context: context))
        case .joinGroup(let request): return .started(JoinGroupHandler.handle(request, context: context))
        case .syncGroup(let request): return .started(SyncGroupHandler.handle(request, context: context))
        case .heartbeat(let request): return .started(HeartbeatHandler.handle(request, context: context))
        case .leaveGroup(let request): return .started(LeaveGroupHandler.handle(request, context: context))
        case .offsetCommit(let request): return .started(OffsetCommitHandler.handle(request, context: context))
        case .offsetFetch(let request): return .started(OffsetFetchHandler.handle(request, context: context))
        case .describeGroups(let request): return .started(DescribeGroupsHandler.handle(request, context: context))
        case .listGroups(let request): return .started(ListGroupsHandler.handle(request, context: context))
        case .deleteGroups(let request): return .started(DeleteGroupsHandler.handle(request, context: context))
        case .offsetDelete(let request): return .started(OffsetDeleteHandler.handle(request, context: context))
        case .saslHandshake(let request): return .started(SaslHandshakeHandler.handle(request, context: context))
        case .saslAuthenticate(let request): return .started(SaslAuthenticateHandler.handle(request, context: context))
        case .describeUserScramCredentials(let request): return .started(UserScramCredentialsHandler.describe(request, context: context))
        case .alterUserScramCredentials(let request): return .started(UserScramCredentialsHandler.alter(request, context: context))
        case .describeAcls(let request): return .started(AclsHandler.describe(request, context: context))
        case .createAcls(let request): return .started(AclsHandler.create(request, context: context))
        case .deleteAcls(let request): return .started(AclsHandler.delete(request, context: context))
        default:
            // Unreachable while `supportedVersions` and this switch agree; kept total for the compiler.
            return .close("no handler for \(apiKey.name)")
        }
    }
}
