import DequeModule
public import Logging
public import MQTTProtocol
public import NIOCore
import NIOConcurrencyHelpers

/// Counters behind the `$SYS/` topics.
struct BrokerStatistics {
    var messagesReceived: Int64 = 0
    var messagesSent: Int64 = 0
    /// Messages not delivered to a subscriber (queue full, expired, too large for it).
    var messagesDropped: Int64 = 0
    var bytesReceived: Int64 = 0
    var bytesSent: Int64 = 0
}

/// The MQTT broker's state and protocol logic: sessions, subscriptions, retained messages, QoS flows,
/// wills, routing of publishes through the message log and fan-out to subscribers.
///
/// Everything here runs on one event loop (`eventLoop`); connection handlers hop onto it with each
/// packet. A message is appended to the log before it is acknowledged (QoS 1/2) and before it is fanned
/// out; appends to one partition complete and are routed in order, so a session that goes offline can
/// record, per partition, the offset below which it has seen everything (its cursor), and read the rest
/// from the log when it comes back.
///
/// Sendable: every mutable property is used only on `eventLoop`.
public final class MQTTBrokerCore: @unchecked Sendable {
    public let eventLoop: any EventLoop
    let configuration: MQTTBrokerConfiguration
    /// Who may publish and subscribe where. On the core's event loop.
    var authorizer: MQTTTopicAuthorizer
    /// Who may connect: asked by each connection (on its own event loop) before it hands a CONNECT over.
    public let authentication: MQTTAuthenticatorChain
    let messageLog: any MQTTMessageLog
    let stateStore: any MQTTStateStore
    let events: any MQTTEventSink
    let logger: Logger
    let clock: @Sendable () -> Int64
    /// Told of every message once it is stored and fanned out (the rules engine), on the event loop.
    var routedObserver: (@Sendable (MQTTMessage) -> Void)? = nil
    /// Events handed to the sink: the enabled ones and those rules read.
    var emittedEvents: Set<String>

    var sessions: [ExactString: Session] = [:]
    var connections: [UInt64: ConnectionState] = [:]
    /// Connections that completed CONNECT (the number the connection limit counts).
    var connectedCount = 0
    let subscriptions = SubscriptionTrie()
    var retained: [ExactString: MQTTMessage] = [:]
    /// Per partition, appends not yet routed, in append order.
    var routing: [PartitionKey: Deque<PendingRoute>] = [:]
    /// Per partition, the offset below which every message has been routed to the online sessions.
    var routedThrough: [PartitionKey: Int64] = [:]
    /// Round-robin position of each shared subscription.
    var shareCursor: [ExactString: Int] = [:]
    var statistics = BrokerStatistics()
    let startedAtMilliseconds: Int64
    var timers: [RepeatedTask] = []
    var lastCheckpointMilliseconds: Int64 = 0
    private let connectionIds = NIOLockedValueBox<UInt64>(0)

    /// A message being appended; routed once it and every earlier append to its partition completed.
    ///
    /// Sendable: confined to the broker's event loop.
    final class PendingRoute: @unchecked Sendable {
        let message: MQTTMessage
        var result: Result<LogPosition, any Error>? = nil
        /// The partition the append went to, set once `append` returns (before its completion runs).
        var partition: PartitionKey? = nil
        let waiter: Waiter

        /// Who waits for the message to be stored (and, when retained, to be the topic's retained message).
        enum Waiter: Sendable {
            /// A client's PUBLISH on a connection: its acknowledgment (QoS 1/2) and its read back-pressure.
            /// Held here rather than in a closure: one allocation fewer per publish.
            case connection(UInt64, InboundPublishes.Ticket?)
            /// The server's own publishes (wills, rules, downlinks).
            case completion(@Sendable (Result<MQTTMessage, any Error>) -> Void)
        }

        init(message: MQTTMessage, waiter: Waiter) {
            self.message = message
            self.waiter = waiter
        }
    }

    public init(
        eventLoop: any EventLoop, configuration: MQTTBrokerConfiguration, messageLog: any MQTTMessageLog, stateStore: any MQTTStateStore,
        events: any MQTTEventSink, logger: Logger, clock: @escaping @Sendable () -> Int64, authenticators: [any MQTTAuthenticator] = [],
        listenerAuthenticators: [MQTTListenerKind: [any MQTTAuthenticator]] = [:], hasUsers: @escaping @Sendable () -> Bool = { false }
    ) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.authentication = MQTTAuthenticatorChain(
            authenticators: authenticators, perListener: listenerAuthenticators, allowAnonymous: configuration.allowAnonymous, hasUsers: hasUsers)
        self.messageLog = messageLog
        self.stateStore = stateStore
        self.events = events
        self.logger = logger
        self.clock = clock
        self.startedAtMilliseconds = clock()
        self.emittedEvents = configuration.enabledEvents
        self.authorizer = configuration.authorizer
    }

    /// Replaces the topic rules (a SIGHUP reload); connections keep their subscriptions, later SUBSCRIBEs
    /// and PUBLISHes are judged by the new rules.
    public func setAuthorizer(_ authorizer: MQTTTopicAuthorizer) {
        eventLoop.execute { self.authorizer = authorizer }
    }

    /// Which events reach the event sink (the events topic filters again by its own list).
    public func setEmittedEvents(_ names: Set<String>) {
        eventLoop.execute { self.emittedEvents = names }
    }

    /// Sets the observer of routed messages; call before `start`.
    public func observeRoutedMessages(_ observer: @escaping @Sendable (MQTTMessage) -> Void) {
        eventLoop.execute { self.routedObserver = observer }
    }

    /// Publishes a message on behalf of the server (a rule's republish, a downlink): stored through the
    /// ingress routes and delivered like a client's publish. `completion` runs once it is stored.
    public func publish(_ message: MQTTMessage, completion: @escaping @Sendable (Result<MQTTMessage, any Error>) -> Void) {
        eventLoop.execute {
            var message = message
            message.receivedAtMilliseconds = self.clock()
            self.statistics.messagesReceived += 1
            self.route(message, completion: completion)
        }
    }

    // MARK: Start and stop

    /// Restores sessions and retained messages, then starts the timers.
    public func start() async throws {
        let storedSessions = try await stateStore.loadSessions()
        let storedRetained = try await stateStore.loadRetained()
        let ends = try await messageLog.endOffsets()
        try await eventLoop.submit {
            self.routedThrough = ends
            for message in storedRetained { self.retained[ExactString(message.topic)] = message }
            for stored in storedSessions { self.restore(stored) }
            if !storedSessions.isEmpty || !storedRetained.isEmpty {
                self.logger.info("mqtt state loaded", metadata: ["sessions": "\(storedSessions.count)", "retained": "\(storedRetained.count)"])
            }
            self.timers.append(self.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in self.everySecond() })
            let interval = Int64(max(1, self.configuration.systemTopicIntervalSeconds))
            self.timers.append(self.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(interval)) { _ in self.publishSystemTopics() })
        }.get()
    }

    /// Disconnects every client (server shutting down) and writes every persistent session.
    public func stop() async {
        try? await eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            for timer in self.timers { timer.cancel() }
            self.timers.removeAll()
            for connection in Array(self.connections.values) {
                self.disconnect(connection, reason: .serverShuttingDown, event: "server_shutdown")
            }
            let writes = self.sessions.values.filter(\.isPersistent).map { self.persist($0, durable: true) }
            return EventLoopFuture.andAllComplete(writes, on: self.eventLoop)
        }.get()
    }

    // MARK: Connections

    /// A new network connection (before CONNECT).
    public func connectionOpened(_ handle: MQTTConnectionHandle) {
        eventLoop.execute {
            self.connections[handle.id] = ConnectionState(handle: handle, now: self.clock(), configuration: self.configuration)
        }
    }

    /// A connection id unique for the broker's lifetime; callable from any thread.
    public func makeConnectionId() -> UInt64 {
        connectionIds.withLockedValue { id in
            id += 1
            return id
        }
    }

    /// A decoded packet from a connection.
    /// `authentication` is the chain's answer to a CONNECT (the connection asks `authentication` before it
    /// hands the CONNECT over); nil applies the anonymous-access rule alone.
    public func received(_ packet: MQTTPacket, bytes: Int, on connectionId: UInt64, authentication: MQTTAuthenticationDecision? = nil) {
        eventLoop.execute {
            guard let connection = self.connections[connectionId], !connection.closed else { return }
            self.statistics.bytesReceived += Int64(bytes)
            self.handle(packet, on: connection, authentication: authentication)
        }
    }

    /// A packet that could not be decoded: the connection is closed with the reason code (after a CONNACK
    /// or DISCONNECT carrying it where the protocol allows).
    public func protocolViolation(_ error: MQTTDecodingError, on connectionId: UInt64) {
        eventLoop.execute {
            guard let connection = self.connections[connectionId], !connection.closed else { return }
            self.logger.info("closing mqtt connection after a malformed packet", metadata: [
                "client": "\(connection.clientId ?? connection.handle.remoteAddress)", "error": "\(error)",
            ])
            if !connection.isConnected {
                // Before CONNECT completed, only a CONNACK can carry the reason, in the layout of the level
                // the client asked for.
                let level = error.requestedProtocolLevel ?? connection.version?.rawValue ?? MQTTProtocolVersion.v3_1_1.rawValue
                connection.version = MQTTProtocolVersion(rawValue: level) ?? (level > 5 ? .v5 : .v3_1_1)
                self.refuseConnect(connection, reason: error.reasonCode, reasonString: error.description, event: "protocol_error")
            } else {
                let reason = error.reasonCode == .packetTooLarge ? "packet_too_large" : "protocol_error"
                self.disconnect(connection, reason: error.reasonCode, reasonString: error.description, event: reason)
            }
        }
    }

    /// A connection that had no room for more messages (its socket did not keep up) has some again: its
    /// session's queue moves on. Callable from any thread.
    public func connectionHasRoom(_ connectionId: UInt64) {
        eventLoop.execute {
            guard let connection = self.connections[connectionId], !connection.closed, let session = self.session(of: connection) else { return }
            self.pump(session)
        }
    }

    /// The connection's keep alive expired (1.5 × the negotiated interval without a packet).
    public func keepAliveExpired(_ connectionId: UInt64) {
        eventLoop.execute {
            guard let connection = self.connections[connectionId], !connection.closed else { return }
            self.logger.info("mqtt keep alive expired", metadata: ["client": "\(connection.clientId ?? connection.handle.remoteAddress)"])
            self.disconnect(connection, reason: .keepAliveTimeout, reasonString: nil, event: "keepalive_timeout")
        }
    }

    /// The network connection is gone.
    public func connectionClosed(_ connectionId: UInt64) {
        eventLoop.execute {
            guard let connection = self.connections[connectionId] else { return }
            self.closeConnection(connection)
        }
    }

    func handle(_ packet: MQTTPacket, on connection: ConnectionState, authentication: MQTTAuthenticationDecision? = nil) {
        if case .connect(let connect) = packet {
            guard !connection.isConnected else {
                logger.info("second CONNECT on one connection", metadata: ["client": "\(connection.clientId ?? "")"])
                disconnect(connection, reason: .protocolError, reasonString: "second CONNECT [MQTT-3.1.0-2]", event: "protocol_error")
                return
            }
            self.connect(connect, on: connection, authentication: authentication)
            return
        }
        guard connection.isConnected, let session = session(of: connection) else {
            // The decoder only lets CONNECT come first; a packet racing a refused CONNECT ends here.
            closeConnection(connection)
            return
        }
        switch packet {
        case .publish(let publish):
            statistics.messagesReceived += 1
            self.publish(publish, session: session, on: connection)
        case .pubAck(let ack):
            acknowledged(ack, session: session, on: connection)
        case .pubRec(let ack):
            received(ack, session: session, on: connection)
        case .pubRel(let ack):
            released(ack, session: session, on: connection)
        case .pubComp(let ack):
            completed(ack, session: session, on: connection)
        case .subscribe(let subscribe):
            self.subscribe(subscribe, session: session, on: connection)
        case .unsubscribe(let unsubscribe):
            self.unsubscribe(unsubscribe, session: session, on: connection)
        case .pingReq:
            send(.pingResp, on: connection)
        case .disconnect(let disconnect):
            clientDisconnected(disconnect, session: session, on: connection)
        case .auth:
            // No authentication method is offered, so AUTH is a protocol error (MQTT 5 4.12).
            disconnect(connection, reason: .protocolError, reasonString: "no authentication method in use", event: "protocol_error")
        case .connect, .connAck, .subAck, .unsubAck, .pingResp:
            disconnect(connection, reason: .protocolError, reasonString: "\(packet.name) is sent by servers only", event: "protocol_error")
        }
    }

    /// The session the connection serves, while it does (a takeover moves the session to another
    /// connection). Read on every packet: a reference, not a lookup by client id.
    func session(of connection: ConnectionState) -> Session? {
        guard let session = connection.session, session.connectionId == connection.handle.id else { return nil }
        return session
    }

    // MARK: Sending

    /// Encodes and writes a packet, unless it exceeds the client's Maximum Packet Size (then returns false
    /// and writes nothing).
    @discardableResult
    func send(_ packet: MQTTPacket, on connection: ConnectionState) -> Bool {
        guard !connection.closed, let version = connection.version else { return false }
        var buffer = ByteBuffer()
        do {
            try MQTTPacketCodec.encode(packet, version: version, into: &buffer)
        } catch {
            logger.error("cannot encode an mqtt packet", metadata: ["packet": "\(packet.name)", "error": "\(error)"])
            return false
        }
        if buffer.readableBytes > connection.clientMaximumPacketSize { return false }
        statistics.bytesSent += Int64(buffer.readableBytes)
        connection.handle.write(buffer)
        return true
    }

    /// Ends a connection from the broker's side: MQTT 5 clients get a DISCONNECT with the reason first
    /// (MQTT 3.1.1 has no such packet; the connection just closes).
    func disconnect(_ connection: ConnectionState, reason: MQTTReasonCode, reasonString: String? = nil, event: String) {
        guard !connection.closed else { return }
        connection.disconnectReason = event
        if connection.version == .v5 && connection.isConnected {
            var properties = MQTTProperties()
            if connection.problemInformation { properties.reasonString = reasonString.map { String($0.prefix(256)) } }
            if !send(.disconnect(MQTTDisconnect(reasonCode: reason, properties: properties)), on: connection), properties.reasonString != nil {
                send(.disconnect(MQTTDisconnect(reasonCode: reason)), on: connection)
            }
        }
        closeConnection(connection, flushFirst: true)
    }

    /// Closes the connection (after what was written, with `flushFirst`), forgets it and detaches its
    /// session.
    func closeConnection(_ connection: ConnectionState, flushFirst: Bool = false) {
        if !connection.closed {
            connection.closed = true
            if flushFirst {
                connection.handle.closeAfterFlush()
            } else {
                connection.handle.close()
            }
        }
        guard connections.removeValue(forKey: connection.handle.id) != nil else { return }
        if connection.isConnected {
            connectedCount -= 1
            detachSession(of: connection)
        }
    }

    func emit(_ name: String, clientId: String, username: String?, _ fields: [(String, MQTTEvent.Value)]) {
        guard emittedEvents.contains(name) else { return }
        events.emit(MQTTEvent(name: name, clientId: clientId, username: username, timestampMilliseconds: clock(), fields: fields))
    }

    // MARK: Timers

    private func everySecond() {
        let now = clock()
        // CONNECT that never came.
        for connection in Array(connections.values) where !connection.isConnected && now - connection.openedAtMilliseconds > configuration.connectTimeoutMilliseconds {
            logger.info("closing mqtt connection that sent no CONNECT", metadata: ["remote": "\(connection.handle.remoteAddress)"])
            closeConnection(connection)
        }
        for session in Array(sessions.values) {
            if let due = session.willDueAtMilliseconds, due <= now {
                publishPendingWill(of: session)
            }
            if !session.isOnline, let expiry = session.expiresAtMilliseconds, expiry <= now {
                endSession(session, reason: "expired")
            }
        }
        if now - lastCheckpointMilliseconds >= configuration.sessionCheckpointIntervalMilliseconds {
            lastCheckpointMilliseconds = now
            checkpointOnlineSessions()
        }
    }
}
