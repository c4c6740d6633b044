public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

/// The Kafka listener: accepts connections and gives each a frame decoder, an idle timer and a
/// connection handler.
public final class KafkaListener: Sendable {
    let broker: Broker
    let coordinator: GroupCoordinator
    public let endpoint: KafkaEndpoint
    let group: any EventLoopGroup
    let logger: Logger
    private let state = NIOLockedValueBox<State>(State())

    struct State {
        var serverChannel: (any Channel)?
        var connections: [ObjectIdentifier: any Channel] = [:]
    }

    public init(broker: Broker, coordinator: GroupCoordinator, endpoint: KafkaEndpoint, group: any EventLoopGroup, logger: Logger) {
        self.broker = broker
        self.coordinator = coordinator
        self.endpoint = endpoint
        self.group = group
        self.logger = logger
    }

    /// Binds and starts accepting. Returns the bound address (useful with port 0). `serverChannelSetup` adds
    /// handlers to the listening channel (the server's descriptor gate), `connectionSetup` to each accepted
    /// connection before the Kafka handlers (TLS), both on the channel's event loop.
    public func start(
        host: String, port: Int, serverChannelSetup: (@Sendable (any Channel) throws -> Void)? = nil,
        connectionSetup: (@Sendable (any Channel) throws -> Void)? = nil
    ) async throws -> SocketAddress {
        let broker = self.broker
        let coordinator = self.coordinator
        let endpoint = self.endpoint
        let logger = self.logger
        let configuration = broker.configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try serverChannelSetup?(channel) }
            }
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [weak self] channel in
                self?.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try connectionSetup?(channel)
                    let idle = IdleStateHandler(readTimeout: .milliseconds(configuration.connectionsMaxIdleMilliseconds))
                    try channel.pipeline.syncOperations.addHandler(idle)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maximumFrameBytes: configuration.maxRequestBytes)))
                    try channel.pipeline.syncOperations.addHandler(KafkaConnectionHandler(broker: broker, coordinator: coordinator, endpoint: endpoint, logger: logger))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        state.withLockedValue { $0.serverChannel = channel }
        guard let address = channel.localAddress else {
            throw ChannelError.unknownLocalAddress
        }
        logger.info("kafka listener started", metadata: ["address": "\(address)", "protocol": "\(endpoint.securityProtocol.rawValue)"])
        return address
    }

    private func track(_ channel: any Channel) {
        let identifier = ObjectIdentifier(channel)
        state.withLockedValue { $0.connections[identifier] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.state.withLockedValue { _ = $0.connections.removeValue(forKey: identifier) }
        }
    }

    public var connectionCount: Int { state.withLockedValue { $0.connections.count } }

    /// Stops accepting and closes every connection.
    public func stop() async {
        let (server, connections) = state.withLockedValue { state -> ((any Channel)?, [any Channel]) in
            defer { state.serverChannel = nil }
            return (state.serverChannel, Array(state.connections.values))
        }
        try? await server?.close()
        for connection in connections {
            try? await connection.close()
        }
        logger.info("kafka listener stopped", metadata: ["closedConnections": "\(connections.count)"])
    }
}
