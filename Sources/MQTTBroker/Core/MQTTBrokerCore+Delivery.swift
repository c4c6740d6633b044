import DequeModule
import MQTTProtocol
import NIOCore

extension MQTTBrokerCore {
    // MARK: Delivery to a client

    /// How many QoS 1/2 messages may be unacknowledged towards this client.
    func window(_ connection: ConnectionState) -> Int {
        max(1, min(connection.clientReceiveMaximum, configuration.maximumInflight))
    }

    /// Hands a message to an online session: QoS 0 goes out at once, or is dropped when the connection has
    /// no room (its socket does not keep up); QoS 1/2 go out while the inflight window and the connection
    /// have room and wait in the session's queue otherwise. While the session catches up from the
    /// log, live messages wait behind what it is reading.
    func deliver(_ outbound: Outbound, to session: Session, live: Bool) {
        guard let connectionId = session.connectionId, let connection = connections[connectionId] else { return }
        if live, let catchUp = session.catchUp {
            guard catchUp.liveBuffer.count < configuration.maximumQueuedMessages else {
                dropped(outbound, of: session, reason: "queue_full")
                return
            }
            catchUp.liveBuffer.append(outbound)
            return
        }
        if outbound.qos == .atMostOnce {
            // A subscriber whose socket does not keep up loses QoS 0 messages rather than growing memory.
            guard connection.handle.hasRoom else {
                dropped(outbound, of: session, reason: "queue_full")
                return
            }
            switch sendPublish(outbound, packetId: nil, dup: false, session: session, on: connection) {
            case .sent: break
            case .expired: dropped(outbound, of: session, reason: "expired")
            case .tooLarge: dropped(outbound, of: session, reason: "packet_too_large")
            }
            return
        }
        if session.queue.isEmpty && session.inflight.count < window(connection) && connection.handle.hasRoom {
            sendInflight(outbound, session: session, on: connection)
        } else if session.queue.count < configuration.maximumQueuedMessages {
            session.queue.append(outbound)
        } else {
            dropped(outbound, of: session, reason: "queue_full")
        }
    }

    private func sendInflight(_ outbound: Outbound, session: Session, on connection: ConnectionState) {
        guard let packetId = session.allocatePacketId() else {
            session.queue.prepend(outbound)
            return
        }
        switch sendPublish(outbound, packetId: packetId, dup: false, session: session, on: connection) {
        case .sent:
            var sent = outbound
            sent.packetId = packetId
            session.addInflight(sent, packetId: packetId)
        case .expired:
            dropped(outbound, of: session, reason: "expired")
        case .tooLarge:
            dropped(outbound, of: session, reason: "packet_too_large")
        }
    }

    /// Moves queued messages into the inflight window as it opens (and while the connection has room),
    /// and lets a paused catch-up go on.
    func pump(_ session: Session) {
        guard let connectionId = session.connectionId, let connection = connections[connectionId] else { return }
        let limit = window(connection)
        while session.inflight.count < limit, connection.handle.hasRoom, let next = session.queue.popFirst() {
            sendInflight(next, session: session, on: connection)
        }
        if let catchUp = session.catchUp, catchUp.paused, session.queue.count <= configuration.maximumQueuedMessages / 4 {
            catchUp.paused = false
            continueCatchUp(session)
        }
    }

    enum SendOutcome {
        case sent
        case expired
        case tooLarge
    }

    /// Writes one PUBLISH to the client: the message's remaining expiry, its subscription identifiers,
    /// and a topic alias when the client accepts them.
    func sendPublish(_ outbound: Outbound, packetId: UInt16?, dup: Bool, session: Session, on connection: ConnectionState) -> SendOutcome {
        guard let message = outbound.message, let version = connection.version else { return .sent }
        let now = clock()
        // A message whose delivery already started goes out again even when expired (MQTT 5 3.3.2.3.3).
        if !dup && message.isExpired(now: now) { return .expired }
        var properties = MQTTProperties()
        var topic = message.topic
        var newAlias: (ExactString, UInt16)? = nil
        if version == .v5 {
            properties = message.forwardedProperties(now: now)
            properties.subscriptionIdentifiers = outbound.subscriptionIdentifiers
            if connection.clientTopicAliasMaximum > 0 {
                let key = ExactString(topic)
                if let alias = connection.outboundAliases[key] {
                    properties.topicAlias = alias
                    topic = ""
                } else if connection.outboundAliases.count < Int(connection.clientTopicAliasMaximum) {
                    let alias = UInt16(connection.outboundAliases.count + 1)
                    properties.topicAlias = alias
                    newAlias = (key, alias)
                }
            }
        }
        let publish = MQTTPublish(
            dup: dup && outbound.qos != .atMostOnce, qos: outbound.qos, retain: outbound.retain, topic: topic,
            packetId: outbound.qos == .atMostOnce ? nil : packetId, properties: properties, payload: message.payload)
        guard send(.publish(publish), on: connection) else {
            return connection.closed ? .sent : .tooLarge
        }
        if let (key, alias) = newAlias { connection.outboundAliases[key] = alias }
        statistics.messagesSent += 1
        if emittedEvents.contains("message.delivered") {
            emit("message.delivered", clientId: session.clientId, username: session.username, [
                ("topic", .string(message.topic)), ("qos", .integer(Int64(outbound.qos.rawValue))),
                ("from_clientid", message.publisherClientId.map { .string($0) } ?? .null),
            ])
        }
        return .sent
    }

    func dropped(_ outbound: Outbound, of session: Session, reason: String) {
        guard let message = outbound.message else { return }
        statistics.messagesDropped += 1
        logger.debug("mqtt message dropped", metadata: ["client": "\(session.clientId)", "topic": "\(message.topic)", "reason": "\(reason)"])
        emit("message.dropped", clientId: session.clientId, username: session.username, [
            ("topic", .string(message.topic)), ("qos", .integer(Int64(outbound.qos.rawValue))), ("reason", .string(reason)),
        ])
    }

    // MARK: Acknowledgments from the client

    func acknowledged(_ ack: MQTTPacketAcknowledgement, session: Session, on connection: ConnectionState) {
        guard let outbound = session.inflight[ack.packetId], outbound.qos == .atLeastOnce else {
            logger.debug("PUBACK for an unknown packet id", metadata: ["client": "\(session.clientId)", "packet_id": "\(ack.packetId)"])
            return
        }
        _ = session.removeInflight(ack.packetId)
        acked(outbound, session: session, reasonCode: ack.reasonCode)
        pump(session)
    }

    func received(_ ack: MQTTPacketAcknowledgement, session: Session, on connection: ConnectionState) {
        guard let outbound = session.inflight[ack.packetId], outbound.qos == .exactlyOnce else {
            send(.pubRel(MQTTPacketAcknowledgement(packetId: ack.packetId, reasonCode: .packetIdentifierNotFound)), on: connection)
            return
        }
        if ack.reasonCode.isError {
            // The client refused the message; the exchange ends here (MQTT 5 4.3.3).
            _ = session.removeInflight(ack.packetId)
            acked(outbound, session: session, reasonCode: ack.reasonCode)
            pump(session)
            return
        }
        session.inflight[ack.packetId]?.released = true
        send(.pubRel(MQTTPacketAcknowledgement(packetId: ack.packetId)), on: connection)
    }

    func released(_ ack: MQTTPacketAcknowledgement, session: Session, on connection: ConnectionState) {
        let known = session.awaitingRelease.remove(ack.packetId) != nil
        send(.pubComp(MQTTPacketAcknowledgement(packetId: ack.packetId, reasonCode: known ? .success : .packetIdentifierNotFound)), on: connection)
    }

    func completed(_ ack: MQTTPacketAcknowledgement, session: Session, on connection: ConnectionState) {
        guard let outbound = session.inflight[ack.packetId], outbound.qos == .exactlyOnce, outbound.released else {
            logger.debug("PUBCOMP for an unknown packet id", metadata: ["client": "\(session.clientId)", "packet_id": "\(ack.packetId)"])
            return
        }
        _ = session.removeInflight(ack.packetId)
        acked(outbound, session: session, reasonCode: ack.reasonCode)
        pump(session)
    }

    private func acked(_ outbound: Outbound, session: Session, reasonCode: MQTTReasonCode) {
        guard emittedEvents.contains("message.acked") else { return }
        emit("message.acked", clientId: session.clientId, username: session.username, [
            ("topic", .string(outbound.message?.topic ?? "")), ("qos", .integer(Int64(outbound.qos.rawValue))),
            ("packet_id", .integer(Int64(outbound.packetId ?? 0))), ("reason_code", .integer(Int64(reasonCode.rawValue))),
        ])
    }

    // MARK: Resuming a session

    /// A persistent session's client is back: unacknowledged messages go out again with DUP set (and
    /// PUBREL for QoS 2 ones past PUBREC) [MQTT-4.4.0-1], then what was queued, then what the session
    /// missed while offline, read from the log.
    func resume(_ session: Session, on connection: ConnectionState, now: Int64) {
        for packetId in session.inflightOrder {
            guard let outbound = session.inflight[packetId] else { continue }
            if outbound.released {
                send(.pubRel(MQTTPacketAcknowledgement(packetId: packetId)), on: connection)
            } else if sendPublish(outbound, packetId: packetId, dup: true, session: session, on: connection) == .tooLarge {
                _ = session.removeInflight(packetId)
                dropped(outbound, of: session, reason: "packet_too_large")
            }
        }
        let catchUp = CatchUp(end: routedThrough)
        session.catchUp = catchUp
        if session.restoredPending.isEmpty {
            pump(session)
            continueCatchUp(session)
        } else {
            restorePending(session)
        }
    }

    /// Reads the messages a session owed its client before a restart, by log position (or retained topic).
    private func restorePending(_ session: Session) {
        let pending = session.restoredPending
        session.restoredPending = []
        let generation = session.generation
        let positions = pending.compactMap(\.position)
        session.catchUp?.reading = true
        let log = messageLog
        eventLoop.makeFutureWithTask { try await log.read(positions: positions) }.whenComplete { result in
            guard session.generation == generation, session.isOnline, let connectionId = session.connectionId,
                  let connection = self.connections[connectionId] else {
                // The client left meanwhile: keep owing the messages.
                session.restoredPending = pending + session.restoredPending
                session.catchUp?.reading = false
                return
            }
            session.catchUp?.reading = false
            var byPosition: [LogPosition: MQTTMessage] = [:]
            switch result {
            case .success(let messages):
                for message in messages { if let position = message.position { byPosition[position] = message } }
            case .failure(let error):
                self.logger.error("reading a restored session's messages failed", metadata: ["client": "\(session.clientId)", "error": "\(error)"])
            }
            for entry in pending {
                let message: MQTTMessage?
                if let position = entry.position {
                    message = byPosition[position]
                } else if let topic = entry.retainedTopic {
                    message = self.retained[ExactString(topic)]
                } else {
                    message = nil
                }
                guard let qos = MQTTQoS(rawValue: entry.qos) else { continue }
                if message == nil && !entry.released {
                    self.logger.info("a message owed to a restored session is no longer in the log", metadata: [
                        "client": "\(session.clientId)", "position": "\(entry.position.map { "\($0.partition)@\($0.offset)" } ?? entry.retainedTopic ?? "")",
                    ])
                    continue
                }
                var outbound = Outbound(message: message, qos: qos, retain: entry.retain, subscriptionIdentifiers: entry.subscriptionIdentifiers)
                if let packetId = entry.packetId, session.inflight[packetId] == nil {
                    outbound.packetId = packetId
                    outbound.released = entry.released
                    session.addInflight(outbound, packetId: packetId)
                    if entry.released {
                        self.send(.pubRel(MQTTPacketAcknowledgement(packetId: packetId)), on: connection)
                    } else {
                        _ = self.sendPublish(outbound, packetId: packetId, dup: true, session: session, on: connection)
                    }
                } else if message != nil {
                    session.queue.append(outbound)
                }
            }
            self.pump(session)
            self.continueCatchUp(session)
        }
    }

    /// Reads the next chunk of the session's backlog from the log and delivers what its subscriptions
    /// match; pauses while its queue is long, and hands over to live delivery at the end.
    func continueCatchUp(_ session: Session) {
        guard let catchUp = session.catchUp, !catchUp.reading, !catchUp.paused, session.isOnline else { return }
        let remaining = catchUp.end.filter { partition, end in (session.cursor[partition] ?? 0) < end }
        if remaining.isEmpty {
            finishCatchUp(session)
            return
        }
        catchUp.reading = true
        let generation = session.generation
        let start = remaining.keys.reduce(into: [PartitionKey: Int64]()) { $0[$1] = session.cursor[$1] ?? 0 }
        let log = messageLog
        eventLoop.makeFutureWithTask { try await log.read(from: start, until: remaining, limit: 500) }.whenComplete { result in
            catchUp.reading = false
            guard session.generation == generation, session.catchUp === catchUp, session.isOnline else { return }
            switch result {
            case .success(let (messages, next)):
                for message in messages { self.deliverBacklog(message, to: session) }
                for (partition, offset) in next { session.cursor[partition] = max(session.cursor[partition] ?? 0, offset) }
                if next.isEmpty || next.allSatisfy({ start[$0.key] == $0.value }) {
                    // Nothing more can be read below the end (records deleted by retention): skip ahead.
                    for (partition, end) in remaining { session.cursor[partition] = end }
                }
            case .failure(let error):
                self.logger.error("catching up a session from the log failed; its backlog is skipped", metadata: [
                    "client": "\(session.clientId)", "error": "\(error)",
                ])
                for (partition, end) in remaining { session.cursor[partition] = end }
            }
            if session.queue.count >= self.configuration.maximumQueuedMessages / 2 {
                catchUp.paused = true
                return
            }
            self.continueCatchUp(session)
        }
    }

    /// A message from the session's backlog: delivered when its non-shared subscriptions match, at QoS 1
    /// or 2 (QoS 0 messages are not kept for offline clients).
    private func deliverBacklog(_ message: MQTTMessage, to session: Session) {
        var merged = MergedSubscriptions()
        for entry in session.subscriptions.values where entry.shareGroup == nil {
            guard MQTTTopic.matches(filter: entry.filter, topic: message.topic), MergedSubscriptions.counts(entry, for: message) else { continue }
            merged.add(entry, for: message)
        }
        // Nothing matched, or only at QoS 0 (not kept for offline clients).
        guard merged.qos != .atMostOnce else { return }
        let outbound = merged.outbound(for: message)
        if message.isExpired(now: clock()) {
            dropped(outbound, of: session, reason: "expired")
            return
        }
        deliver(outbound, to: session, live: false)
    }

    private func finishCatchUp(_ session: Session) {
        guard let catchUp = session.catchUp else { return }
        session.catchUp = nil
        session.cursor = [:]
        for outbound in catchUp.liveBuffer {
            deliver(outbound, to: session, live: true)
        }
    }
}
