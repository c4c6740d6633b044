import MQTTProtocol
import NIOCore

extension MQTTBrokerCore {
    // MARK: SUBSCRIBE

    func subscribe(_ packet: MQTTSubscribe, session: Session, on connection: ConnectionState) {
        guard let version = connection.version else { return }
        let identifier = packet.properties.subscriptionIdentifiers.first
        var reasonCodes: [MQTTReasonCode] = []
        var added: [(entry: SubscriptionEntry, existed: Bool)] = []
        for subscription in packet.subscriptions {
            let filter = subscription.filter
            let shared = MQTTTopic.sharedSubscription(filter)
            if let problem = filterProblem(filter) {
                logger.info("mqtt subscribe refused", metadata: ["client": "\(session.clientId)", "filter": "\(filter)", "problem": "\(problem)"])
                reasonCodes.append(.topicFilterInvalid)
                continue
            }
            if !authorizer.maySubscribe(filter, clientId: session.clientId, username: session.username) {
                // 0x87 Not authorized; a 3.x client reads it as 0x80 Failure.
                logger.info("mqtt subscribe not authorized", metadata: ["client": "\(session.clientId)", "filter": "\(filter)"])
                reasonCodes.append(.notAuthorized)
                continue
            }
            if shared != nil && subscription.options.noLocal {
                // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
                disconnect(connection, reason: .protocolError, reasonString: "no local on a shared subscription", event: "protocol_error")
                return
            }
            let entry = SubscriptionEntry(
                clientId: session.clientId, filter: filter, options: subscription.options, identifier: identifier, shareGroup: shared?.group)
            let key = ExactString(filter)
            let existed = session.subscriptions[key] != nil
            session.subscriptions[key] = entry
            subscriptions.insert(entry)
            added.append((entry, existed))
            reasonCodes.append(MQTTReasonCode(rawValue: subscription.options.qos.rawValue))
        }
        let connectionId = connection.handle.id
        let generation = session.generation
        let write: EventLoopFuture<Void> = session.isPersistent && !added.isEmpty ? persist(session, durable: true) : eventLoop.makeSucceededVoidFuture()
        write.whenComplete { [reasonCodes, added] result in
            var codes = reasonCodes
            if case .failure(let error) = result {
                // The subscriptions hold for this connection, but they could not be made durable: say so.
                self.logger.error("mqtt subscriptions could not be stored", metadata: ["client": "\(session.clientId)", "error": "\(error)"])
                codes = codes.map { $0.isError ? $0 : .unspecifiedError }
            }
            guard let connection = self.connections[connectionId], !connection.closed, session.generation == generation else { return }
            var properties = MQTTProperties()
            if version == .v5, connection.problemInformation, case .failure = result { properties.reasonString = "the subscription could not be stored" }
            self.send(.subAck(MQTTSubAck(packetId: packet.packetId, reasonCodes: codes, properties: properties)), on: connection)
            guard case .success = result else { return }
            for (entry, existed) in added {
                self.emit("session.subscribed", clientId: session.clientId, username: session.username, [
                    ("filter", .string(entry.filter)), ("qos", .integer(Int64(entry.options.qos.rawValue))),
                    ("no_local", .bool(entry.options.noLocal)), ("retain_as_published", .bool(entry.options.retainAsPublished)),
                    ("retain_handling", .integer(Int64(entry.options.retainHandling.rawValue))),
                    ("subscription_identifier", entry.identifier.map { .integer(Int64($0)) } ?? .null),
                    ("share_group", entry.shareGroup.map { .string($0) } ?? .null),
                ])
                self.sendRetained(for: entry, existed: existed, session: session)
            }
        }
    }

    /// Why a filter cannot be subscribed to, or nil.
    func filterProblem(_ filter: String) -> String? {
        guard MQTTTopic.validateFilter(filter) else { return "invalid topic filter" }
        if filter.utf8.count > configuration.maximumTopicLength { return "filter longer than \(configuration.maximumTopicLength) bytes" }
        if levelCount(filter) > configuration.maximumTopicLevels { return "filter has more than \(configuration.maximumTopicLevels) levels" }
        return nil
    }

    /// Retained messages matching a new subscription, per its Retain Handling: 0 always, 1 only when the
    /// subscription is new, 2 never; never for shared subscriptions [MQTT-3.8.4-4..6].
    private func sendRetained(for entry: SubscriptionEntry, existed: Bool, session: Session) {
        guard entry.shareGroup == nil else { return }
        switch entry.options.retainHandling {
        case .sendOnNewSubscribe where existed: return
        case .doNotSend: return
        default: break
        }
        let now = clock()
        for (key, message) in retained where MQTTTopic.matches(filter: entry.filter, topic: key.string) {
            if message.isExpired(now: now) {
                retained[key] = nil
                stateStore.saveRetained(topic: key.string, nil) { _ in }
                continue
            }
            let outbound = Outbound(
                message: message, qos: min(message.qos, entry.options.qos), retain: true,
                subscriptionIdentifiers: entry.identifier.map { [$0] } ?? [])
            deliver(outbound, to: session, live: false)
        }
    }

    // MARK: UNSUBSCRIBE

    func unsubscribe(_ packet: MQTTUnsubscribe, session: Session, on connection: ConnectionState) {
        var reasonCodes: [MQTTReasonCode] = []
        var removed: [SubscriptionEntry] = []
        for filter in packet.filters {
            let key = ExactString(filter)
            if let entry = session.subscriptions.removeValue(forKey: key) {
                subscriptions.remove(clientId: session.clientId, filter: filter)
                removed.append(entry)
                reasonCodes.append(.success)
            } else {
                reasonCodes.append(.noSubscriptionExisted)
            }
        }
        let connectionId = connection.handle.id
        let generation = session.generation
        let write: EventLoopFuture<Void> = session.isPersistent && !removed.isEmpty ? persist(session, durable: true) : eventLoop.makeSucceededVoidFuture()
        write.whenComplete { [reasonCodes, removed] result in
            var codes = reasonCodes
            if case .failure(let error) = result {
                self.logger.error("mqtt unsubscribe could not be stored", metadata: ["client": "\(session.clientId)", "error": "\(error)"])
                codes = codes.map { $0 == .success ? .unspecifiedError : $0 }
            }
            guard let connection = self.connections[connectionId], !connection.closed, session.generation == generation else { return }
            self.send(.unsubAck(MQTTUnsubAck(packetId: packet.packetId, reasonCodes: codes)), on: connection)
            for entry in removed {
                self.emit("session.unsubscribed", clientId: session.clientId, username: session.username, [("filter", .string(entry.filter))])
            }
        }
    }
}
