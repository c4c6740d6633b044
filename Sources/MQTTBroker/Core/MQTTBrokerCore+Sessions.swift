import MQTTProtocol
import NIOCore

extension MQTTBrokerCore {
    // MARK: A connection ends

    /// The session's connection is gone: the client.disconnected event, the will (now, after its delay,
    /// or never after a normal DISCONNECT), and the session ends or waits offline for its client.
    func detachSession(of connection: ConnectionState) {
        guard let clientId = connection.clientId, let session = session(of: connection) else { return }
        let now = clock()
        emit("client.disconnected", clientId: clientId, username: connection.username, [
            ("reason", .string(connection.disconnectReason ?? "connection_lost")), ("peer", .string(connection.handle.remoteAddress)),
        ])
        session.connectionId = nil
        session.generation &+= 1
        if let will = session.will, !connection.willDiscarded {
            session.pendingWill = will
            session.pendingWillUsername = connection.username
            let delay = connection.version == .v5 ? Int64(will.properties.willDelayInterval ?? 0) : 0
            session.willDueAtMilliseconds = now + delay * 1000
            if delay == 0 { publishPendingWill(of: session) }
        }
        session.will = nil
        guard session.isPersistent else {
            endSession(session, reason: "disconnected")
            return
        }
        // Everything routed so far reached the session live (sent, or queued and kept as pending) unless it
        // was still catching up, in which case its cursor says how far it got.
        if session.catchUp == nil {
            session.cursor = routedThrough
        }
        session.catchUp = nil
        session.expiresAtMilliseconds = session.expiryIntervalSeconds == UInt32.max ? nil : now + Int64(session.expiryIntervalSeconds) * 1000
        persist(session, durable: true).whenFailure { error in
            self.logger.error("mqtt session could not be stored", metadata: ["client": "\(clientId)", "error": "\(error)"])
        }
    }

    /// Ends a session: its subscriptions go, a pending will is published [MQTT-3.1.3-9], its stored form
    /// is deleted.
    func endSession(_ session: Session, reason: String) {
        for key in session.subscriptions.keys {
            subscriptions.remove(clientId: session.clientId, filter: key.string)
        }
        session.subscriptions = [:]
        session.queue.removeAll()
        session.inflight.removeAll()
        session.inflightOrder.removeAll()
        if session.pendingWill != nil { publishPendingWill(of: session) }
        if sessions[session.key] === session { sessions[session.key] = nil }
        logger.debug("mqtt session ended", metadata: ["client": "\(session.clientId)", "reason": "\(reason)"])
        if session.lastStored != nil {
            session.lastStored = nil
            let clientId = session.clientId
            stateStore.saveSession(clientId: clientId, nil, durable: false) { result in
                if case .failure(let error) = result {
                    self.logger.error("deleting an ended mqtt session failed", metadata: ["client": "\(clientId)", "error": "\(error)"])
                }
            }
        }
    }

    /// Publishes the session's pending will through the log like any other message.
    func publishPendingWill(of session: Session) {
        guard let will = session.pendingWill else { return }
        session.pendingWill = nil
        session.willDueAtMilliseconds = nil
        let clientId = session.clientId
        let username = session.pendingWillUsername
        let message = MQTTMessage(
            topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
            properties: MQTTMessage.messageProperties(of: will.properties), publisherClientId: clientId, publisherUsername: username,
            receivedAtMilliseconds: clock())
        route(message) { result in
            switch result {
            case .success:
                self.emit("will.published", clientId: clientId, username: username, [
                    ("topic", .string(will.topic)), ("qos", .integer(Int64(will.qos.rawValue))), ("retain", .bool(will.retain)),
                ])
            case .failure(let error):
                self.logger.error("mqtt will could not be stored", metadata: ["client": "\(clientId)", "topic": "\(will.topic)", "error": "\(error)"])
            }
        }
        if session.isPersistent, sessions[session.key] === session, !session.isOnline {
            persist(session, durable: false)
        }
    }

    // MARK: Persistence

    /// Writes the session's stored form (unless unchanged since the last write).
    @discardableResult
    func persist(_ session: Session, durable: Bool) -> EventLoopFuture<Void> {
        let stored = storedForm(of: session)
        if stored == session.lastStored && !durable { return eventLoop.makeSucceededVoidFuture() }
        session.lastStored = stored
        let promise = eventLoop.makePromise(of: Void.self)
        stateStore.saveSession(clientId: session.clientId, stored, durable: durable) { result in
            promise.completeWith(result)
        }
        return promise.futureResult
    }

    /// Connected persistent sessions write where they are, so that a crash costs at most a few seconds of
    /// redelivery.
    func checkpointOnlineSessions() {
        for session in sessions.values where session.isOnline && session.isPersistent {
            persist(session, durable: false).whenFailure { error in
                self.logger.warning("mqtt session checkpoint failed", metadata: ["client": "\(session.clientId)", "error": "\(error)"])
            }
        }
    }

    func storedForm(of session: Session) -> StoredSession {
        let cursorSource = session.isOnline && session.catchUp == nil ? routedThrough : session.cursor
        var pending: [StoredSession.Pending] = []
        func add(_ outbound: Outbound, packetId: UInt16?) {
            let position = outbound.message?.position
            pending.append(StoredSession.Pending(
                position: position, retainedTopic: position == nil ? outbound.message?.topic : nil, packetId: packetId,
                qos: outbound.qos.rawValue, released: outbound.released, subscriptionIdentifiers: outbound.subscriptionIdentifiers,
                retain: outbound.retain))
        }
        for packetId in session.inflightOrder {
            if let outbound = session.inflight[packetId] { add(outbound, packetId: packetId) }
        }
        for outbound in session.queue { add(outbound, packetId: nil) }
        pending.append(contentsOf: session.restoredPending)
        return StoredSession(
            clientId: session.clientId, protocolVersion: session.protocolVersion.rawValue, username: session.username,
            expiryIntervalSeconds: session.expiryIntervalSeconds, expiresAtMilliseconds: session.expiresAtMilliseconds,
            subscriptions: session.subscriptions.values.sorted { $0.filter.utf8.lexicographicallyPrecedes($1.filter.utf8) }.map {
                StoredSession.Subscription(
                    filter: $0.filter, qos: $0.options.qos.rawValue, noLocal: $0.options.noLocal, retainAsPublished: $0.options.retainAsPublished,
                    retainHandling: $0.options.retainHandling.rawValue, identifier: $0.identifier)
            },
            cursor: cursorSource.sorted { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) }.map {
                StoredSession.CursorEntry(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value)
            },
            pending: pending,
            awaitingRelease: session.awaitingRelease.sorted(),
            pendingWill: session.pendingWill.map(Self.storedWill),
            willDueAtMilliseconds: session.willDueAtMilliseconds)
    }

    /// A session read back at start.
    func restore(_ stored: StoredSession) {
        let version = MQTTProtocolVersion(rawValue: stored.protocolVersion) ?? .v5
        let session = Session(clientId: stored.clientId, protocolVersion: version, expiryIntervalSeconds: stored.expiryIntervalSeconds)
        let now = clock()
        session.username = stored.username
        if stored.expiryIntervalSeconds != UInt32.max {
            // A session that was online when the server stopped starts its expiry now.
            session.expiresAtMilliseconds = stored.expiresAtMilliseconds ?? now + Int64(stored.expiryIntervalSeconds) * 1000
        }
        for subscription in stored.subscriptions {
            let options = MQTTSubscriptionOptions(
                qos: MQTTQoS(rawValue: subscription.qos) ?? .atMostOnce, noLocal: subscription.noLocal,
                retainAsPublished: subscription.retainAsPublished,
                retainHandling: MQTTRetainHandling(rawValue: subscription.retainHandling) ?? .sendOnSubscribe)
            let entry = SubscriptionEntry(
                clientId: stored.clientId, filter: subscription.filter, options: options, identifier: subscription.identifier,
                shareGroup: MQTTTopic.sharedSubscription(subscription.filter)?.group)
            session.subscriptions[ExactString(subscription.filter)] = entry
            subscriptions.insert(entry)
        }
        for entry in stored.cursor {
            session.cursor[PartitionKey(topic: entry.topic, partition: entry.partition)] = entry.offset
        }
        session.restoredPending = stored.pending
        session.awaitingRelease = Set(stored.awaitingRelease)
        if let will = stored.pendingWill {
            session.pendingWill = Self.will(from: will)
            session.pendingWillUsername = stored.username
            session.willDueAtMilliseconds = stored.willDueAtMilliseconds ?? now
        }
        session.lastStored = stored
        sessions[session.key] = session
    }

    static func storedWill(_ will: MQTTWill) -> StoredSession.Will {
        StoredSession.Will(
            topic: will.topic, payload: Array(will.payload.readableBytesView), qos: will.qos.rawValue, retain: will.retain,
            delaySeconds: will.properties.willDelayInterval ?? 0, contentType: will.properties.contentType,
            responseTopic: will.properties.responseTopic, correlationData: will.properties.correlationData.map { Array($0.readableBytesView) },
            payloadFormatIndicator: will.properties.payloadFormatIndicator, messageExpiryInterval: will.properties.messageExpiryInterval,
            userProperties: will.properties.userProperties.map { [$0.name, $0.value] })
    }

    static func will(from stored: StoredSession.Will) -> MQTTWill {
        var properties = MQTTProperties()
        properties.willDelayInterval = stored.delaySeconds == 0 ? nil : stored.delaySeconds
        properties.contentType = stored.contentType
        properties.responseTopic = stored.responseTopic
        properties.correlationData = stored.correlationData.map { ByteBuffer(bytes: $0) }
        properties.payloadFormatIndicator = stored.payloadFormatIndicator
        properties.messageExpiryInterval = stored.messageExpiryInterval
        properties.userProperties = stored.userProperties.compactMap { $0.count == 2 ? MQTTUserProperty(name: $0[0], value: $0[1]) : nil }
        return MQTTWill(
            topic: stored.topic, payload: ByteBuffer(bytes: stored.payload), qos: MQTTQoS(rawValue: stored.qos) ?? .atMostOnce,
            retain: stored.retain, properties: properties)
    }

    // MARK: $SYS

    /// Refreshes the `$SYS/broker/...` topics: retained (in memory only) and sent to their subscribers.
    func publishSystemTopics() {
        let now = clock()
        let values: [(String, String)] = [
            ("version", configuration.serverVersion),
            ("uptime", "\((now - startedAtMilliseconds) / 1000) seconds"),
            ("clients/connected", "\(connectedCount)"),
            ("clients/total", "\(sessions.count)"),
            ("clients/disconnected", "\(sessions.values.filter { !$0.isOnline }.count)"),
            ("messages/received", "\(statistics.messagesReceived)"),
            ("messages/sent", "\(statistics.messagesSent)"),
            ("publish/messages/dropped", "\(statistics.messagesDropped)"),
            ("bytes/received", "\(statistics.bytesReceived)"),
            ("bytes/sent", "\(statistics.bytesSent)"),
            ("subscriptions/count", "\(subscriptions.count)"),
            ("retained messages/count", "\(retained.keys.filter { !$0.string.hasPrefix("$SYS/") }.count)"),
        ]
        for (name, value) in values {
            let message = MQTTMessage(
                topic: "$SYS/broker/" + name, payload: ByteBuffer(string: value), qos: .atMostOnce, retain: true, properties: MQTTProperties(),
                publisherClientId: nil, publisherUsername: nil, receivedAtMilliseconds: now)
            retained[ExactString(message.topic)] = message
            fanOut(message)
        }
    }
}
