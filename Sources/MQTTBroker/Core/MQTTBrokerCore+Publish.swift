import DequeModule
import MQTTProtocol
import NIOCore

extension MQTTBrokerCore {
    // MARK: PUBLISH from a client

    func publish(_ packet: MQTTPublish, session: Session, on connection: ConnectionState) {
        guard let version = connection.version, let clientId = connection.clientId else { return }
        let topic: String
        switch connection.inbound.resolveTopic(packet.topic, alias: version == .v5 ? packet.properties.topicAlias : nil) {
        case .success(let resolved):
            topic = resolved
        case .failure(let violation):
            disconnect(connection, reason: violation.reasonCode, reasonString: violation.reasonString, event: "protocol_error")
            return
        }
        if let problem = topicNameProblem(topic) {
            logger.info("mqtt publish to an invalid topic", metadata: ["client": "\(clientId)", "problem": "\(problem)"])
            disconnect(connection, reason: .topicNameInvalid, reasonString: problem, event: "protocol_error")
            return
        }

        // QoS 1/2: the kind of acknowledgment owed.
        var owed: InboundPublishes.Kind? = nil
        if packet.qos != .atMostOnce, let packetId = packet.packetId {
            if packet.qos == .exactlyOnce && (session.awaitingRelease.contains(packetId) || connection.inbound.isBeingStored(qos2: packetId)) {
                // A resent QoS 2 PUBLISH: stored once already (or being stored); only the PUBREC is owed.
                if session.awaitingRelease.contains(packetId) {
                    connection.inbound.acknowledgeNow(.pubRec, packetId: packetId, reasonCode: .success)
                    flushAcknowledgements(on: connection)
                }
                return
            }
            if version == .v5 && !connection.inbound.admits(awaitingRelease: session.awaitingRelease.count, receiveMaximum: Int(configuration.receiveMaximum)) {
                disconnect(connection, reason: .receiveMaximumExceeded, reasonString: "more than \(configuration.receiveMaximum) unacknowledged publishes", event: "protocol_error")
                return
            }
            owed = packet.qos == .atLeastOnce ? .pubAck : .pubRec
        }

        var refusal: (MQTTReasonCode, String)? = nil
        if topic.hasPrefix("$SYS/") || topic == "$SYS" {
            refusal = (.notAuthorized, "clients may not publish to $SYS topics")
        } else if version == .v5, packet.properties.payloadFormatIndicator == 1, !MQTTPayloadFormat.isValidUTF8(packet.payload) {
            refusal = (.payloadFormatInvalid, "payload format indicator says UTF-8 but the payload is not")
        }
        if let (reason, text) = refusal {
            logger.info("mqtt publish refused", metadata: ["client": "\(clientId)", "topic": "\(topic)", "reason": "\(text)"])
            emit("message.dropped", clientId: clientId, username: connection.username, [
                ("topic", .string(topic)), ("qos", .integer(Int64(packet.qos.rawValue))), ("reason", .string(reason == .notAuthorized ? "not_authorized" : "payload_format_invalid")),
            ])
            if let owed, let packetId = packet.packetId {
                if version == .v5 {
                    connection.inbound.acknowledgeNow(owed, packetId: packetId, reasonCode: reason, reasonString: text)
                    flushAcknowledgements(on: connection)
                } else {
                    // 3.1.1 cannot refuse a publish except by closing the connection.
                    disconnect(connection, reason: reason, reasonString: text, event: "not_authorized")
                }
            } else if version == .v5 && reason == .payloadFormatInvalid {
                disconnect(connection, reason: reason, reasonString: text, event: "protocol_error")
            }
            return
        }

        if !authorizer.mayPublish(topic, clientId: clientId, username: connection.username) {
            logger.info("mqtt publish not authorized", metadata: ["client": "\(clientId)", "topic": "\(topic)"])
            emit("message.dropped", clientId: clientId, username: connection.username, [
                ("topic", .string(topic)), ("qos", .integer(Int64(packet.qos.rawValue))), ("reason", .string("not_authorized")),
            ])
            if let owed, let packetId = packet.packetId {
                // 5.0: PUBACK/PUBREC 0x87. 3.1.1 has no refusal short of closing the connection: the message is
                // dropped and acknowledged, as mosquitto does, so the client does not send it again forever.
                if version == .v5 {
                    connection.inbound.acknowledgeNow(owed, packetId: packetId, reasonCode: .notAuthorized, reasonString: "not authorized to publish to \(topic)")
                } else {
                    if owed == .pubRec { session.awaitingRelease.insert(packetId) }
                    connection.inbound.acknowledgeNow(owed, packetId: packetId, reasonCode: .success)
                }
                flushAcknowledgements(on: connection)
            }
            return
        }

        let message = MQTTMessage(
            topic: topic, payload: packet.payload, qos: packet.qos, retain: packet.retain,
            properties: version == .v5 ? MQTTMessage.messageProperties(of: packet.properties) : MQTTProperties(),
            publisherClientId: clientId, publisherUsername: connection.username, receivedAtMilliseconds: clock())
        var ticket: InboundPublishes.Ticket? = nil
        if let owed, let packetId = packet.packetId {
            ticket = connection.inbound.expect(owed, packetId: packetId)
        }
        if connection.inbound.storing() {
            connection.handle.holdReading(true)
        }
        route(message, waiter: .connection(connection.handle.id, ticket))
    }

    /// A client's publish is stored (or could not be): its connection may read again and gets its
    /// acknowledgment in PUBLISH order. The connection may be gone; a QoS 2 message stored meanwhile still
    /// counts for the session.
    private func clientPublishStored(
        _ message: MQTTMessage, connectionId: UInt64, ticket: InboundPublishes.Ticket?, result: Result<MQTTMessage, any Error>
    ) {
        let liveConnection = connections[connectionId]
        if let liveConnection, liveConnection.inbound.storedOne() {
            liveConnection.handle.holdReading(false)
        }
        guard let ticket, let clientId = message.publisherClientId else { return }
        var reasonCode = MQTTReasonCode.success
        var reasonString: String? = nil
        switch result {
        case .success:
            if ticket.kind == .pubRec, let owner = sessions[ExactString(clientId)] {
                owner.awaitingRelease.insert(ticket.packetId)
            }
        case .failure(let error):
            logger.error("mqtt publish could not be stored", metadata: ["client": "\(clientId)", "topic": "\(message.topic)", "error": "\(error)"])
            reasonCode = .implementationSpecificError
            reasonString = "the message could not be stored"
        }
        if let liveConnection {
            liveConnection.inbound.decide(ticket, reasonCode: reasonCode, reasonString: reasonString)
            flushAcknowledgements(on: liveConnection)
        }
    }

    /// Sends the acknowledgments at the head of the queue that are decided, keeping PUBLISH order.
    func flushAcknowledgements(on connection: ConnectionState) {
        while let acknowledgement = connection.inbound.nextDecided() {
            guard !connection.closed else { continue }
            if acknowledgement.reasonCode.isError && connection.version != .v5 {
                // 3.1.1 has no failing acknowledgment; never acknowledge what was not stored.
                disconnect(connection, reason: acknowledgement.reasonCode, event: "storage_error")
                return
            }
            var properties = MQTTProperties()
            if connection.problemInformation { properties.reasonString = acknowledgement.reasonString }
            let packet = MQTTPacketAcknowledgement(packetId: acknowledgement.packetId, reasonCode: acknowledgement.reasonCode, properties: properties)
            send(acknowledgement.kind == .pubAck ? .pubAck(packet) : .pubRec(packet), on: connection)
        }
    }

    // MARK: Routing

    /// Appends a message to the log, then (in append order per partition) updates the retained store and
    /// fans it out; `completion` runs on the event loop once the message is stored (and, when retained,
    /// the retained store written), or with the failure.
    func route(_ message: MQTTMessage, completion: @escaping @Sendable (Result<MQTTMessage, any Error>) -> Void) {
        route(message, waiter: .completion(completion))
    }

    private func route(_ message: MQTTMessage, waiter: PendingRoute.Waiter) {
        let pending = PendingRoute(message: message, waiter: waiter)
        let partition = messageLog.append(message, durable: message.qos != .atMostOnce) { result in
            // Always later than `append` returned: the completion hops onto the event loop.
            self.eventLoop.execute {
                pending.result = result
                if let partition = pending.partition { self.drainRoutes(partition) }
            }
        }
        pending.partition = partition
        routing[partition, default: []].append(pending)
    }

    private func drainRoutes(_ partition: PartitionKey) {
        // An emptied queue stays (one per partition of the routes' topics), so that the next append to the
        // partition does not allocate a new one.
        while let head = routing[partition]?.first, let result = head.result {
            routing[partition]!.removeFirst()
            switch result {
            case .success(let position):
                routedThrough[partition] = max(routedThrough[partition] ?? 0, position.offset + 1)
                var message = head.message
                message.position = position
                fanOut(message)
                routedObserver?(message)
                if message.retain {
                    let (waiter, retained) = (head.waiter, message)
                    storeRetained(retained) { result in self.stored(retained, for: waiter, result) }
                } else {
                    stored(message, for: head.waiter, .success(message))
                }
            case .failure(let error):
                stored(head.message, for: head.waiter, .failure(error))
            }
        }
    }

    private func stored(_ message: MQTTMessage, for waiter: PendingRoute.Waiter, _ result: Result<MQTTMessage, any Error>) {
        switch waiter {
        case .connection(let connectionId, let ticket):
            clientPublishStored(message, connectionId: connectionId, ticket: ticket, result: result)
        case .completion(let completion):
            completion(result)
        }
    }

    /// Sets (or with an empty payload clears) the retained message of the topic; `completion` runs once
    /// the retained store has it durably.
    private func storeRetained(_ message: MQTTMessage, completion: @escaping @Sendable (Result<MQTTMessage, any Error>) -> Void) {
        let key = ExactString(message.topic)
        let cleared = message.payload.readableBytes == 0
        if cleared {
            retained[key] = nil
        } else {
            retained[key] = message
        }
        stateStore.saveRetained(topic: message.topic, cleared ? nil : message) { result in
            self.eventLoop.execute {
                switch result {
                case .success: completion(.success(message))
                case .failure(let error): completion(.failure(error))
                }
            }
        }
    }

    // MARK: Fan-out

    /// Delivers a routed message to the online sessions whose subscriptions match: once per session at the
    /// highest matching QoS with every matching subscription identifier, and once per shared subscription
    /// to one of its online members in turn. Offline persistent sessions read it from the log later.
    func fanOut(_ message: MQTTMessage) {
        let (matches, groups) = subscriptions.matches(topic: message.topic)
        var delivered = false
        if matches.count == 1 {
            // One matching subscription (the common case) needs no merge per session.
            let entry = matches[0]
            if MergedSubscriptions.counts(entry, for: message) {
                delivered = true
                var merged = MergedSubscriptions()
                merged.add(entry, for: message)
                if let session = sessions[ExactString(entry.clientId)], session.isOnline {
                    deliver(merged.outbound(for: message), to: session, live: true)
                }
            }
        } else if !matches.isEmpty {
            var perSession: [ExactString: MergedSubscriptions] = [:]
            for entry in matches where MergedSubscriptions.counts(entry, for: message) {
                perSession[ExactString(entry.clientId), default: MergedSubscriptions()].add(entry, for: message)
            }
            delivered = !perSession.isEmpty
            for (key, merged) in perSession {
                guard let session = sessions[key], session.isOnline else { continue }
                deliver(merged.outbound(for: message), to: session, live: true)
            }
        }
        for (filter, members) in groups {
            let online = members.filter { sessions[ExactString($0.clientId)]?.isOnline == true }.sorted { $0.clientId.utf8.lexicographicallyPrecedes($1.clientId.utf8) }
            guard !online.isEmpty else {
                if let publisher = message.publisherClientId {
                    emit("message.dropped", clientId: publisher, username: message.publisherUsername, [
                        ("topic", .string(message.topic)), ("qos", .integer(Int64(message.qos.rawValue))), ("reason", .string("no_shared_subscriber_online")),
                        ("filter", .string(filter.string)),
                    ])
                }
                continue
            }
            let turn = shareCursor[filter, default: 0] % online.count
            shareCursor[filter] = turn + 1
            let member = online[turn]
            guard let session = sessions[ExactString(member.clientId)] else { continue }
            let outbound = Outbound(
                message: message, qos: min(message.qos, member.options.qos), retain: member.options.retainAsPublished && message.retain,
                subscriptionIdentifiers: member.identifier.map { [$0] } ?? [])
            deliver(outbound, to: session, live: true)
        }
        if !delivered && groups.isEmpty && configuration.reportNoSubscribers, let publisher = message.publisherClientId {
            emit("message.dropped", clientId: publisher, username: message.publisherUsername, [
                ("topic", .string(message.topic)), ("qos", .integer(Int64(message.qos.rawValue))), ("reason", .string("no_subscribers")),
            ])
        }
    }
}
