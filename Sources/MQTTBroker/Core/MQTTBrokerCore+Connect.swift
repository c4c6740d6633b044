import Foundation
import MQTTProtocol
import NIOCore

extension MQTTBrokerCore {
    // MARK: CONNECT

    func connect(_ packet: MQTTConnect, on connection: ConnectionState, authentication: MQTTAuthenticationDecision?) {
        var packet = packet
        if case .allowAs(let username, let clientId, _) = authentication {
            // The identity an authenticator established (a certificate's name) is the one the session uses.
            packet.username = username
            if let clientId { packet.clientId = clientId }
        }
        let version = packet.protocolVersion
        connection.version = version
        let now = clock()

        if connectedCount >= configuration.maximumConnections {
            logger.warning("mqtt connection limit reached", metadata: ["limit": "\(configuration.maximumConnections)"])
            refuseConnect(connection, reason: version == .v5 ? .quotaExceeded : .serverUnavailable, reasonString: "connection limit reached", event: "quota_exceeded")
            return
        }

        var clientId = packet.clientId
        var assignedClientId: String? = nil
        if clientId.isEmpty {
            // 3.1.1 assigns an id only for a clean session (3.1.3-7, -8); 5.0 always may, and says which.
            if version != .v5 && !packet.cleanStart {
                refuseConnect(connection, reason: .clientIdentifierNotValid, reasonString: "an empty client id needs clean session", event: "client_id_invalid")
                return
            }
            clientId = "tributary-" + (0..<4).map { _ in String(UInt32.random(in: .min ... .max), radix: 16) }.joined()
            if version == .v5 { assignedClientId = clientId }
        }
        if clientId.utf8.count > configuration.maximumClientIdLength {
            refuseConnect(
                connection, reason: .clientIdentifierNotValid,
                reasonString: "client id longer than \(configuration.maximumClientIdLength) bytes", event: "client_id_invalid")
            return
        }

        if let method = packet.properties.authenticationMethod {
            refuseConnect(connection, reason: .badAuthenticationMethod, reasonString: "authentication method \(method) is not supported", event: "not_authorized")
            return
        }
        if let refusal = refusal(of: packet, authentication) {
            // The event names who tried and why, never what they presented.
            emit("client.auth_failed", clientId: clientId, username: packet.username, [
                ("reason_code", .integer(Int64(refusal.rawValue))), ("peer", .string(connection.handle.remoteAddress)),
                ("protocol_version", .integer(Int64(version.rawValue))),
            ])
            let reason: MQTTReasonCode = refusal == .connectionRateExceeded && version != .v5 ? .serverUnavailable : refusal
            refuseConnect(
                connection, reason: reason, reasonString: refusal == .connectionRateExceeded ? "too many failed attempts from this address" : "not authorized",
                event: "not_authorized")
            return
        }

        if let will = packet.will, let problem = topicNameProblem(will.topic) {
            refuseConnect(connection, reason: .topicNameInvalid, reasonString: "will topic: \(problem)", event: "protocol_error")
            return
        }

        let key = ExactString(clientId)
        // A client id whose session belongs to a user is that user's: another user (or nobody) cannot take
        // over its session and queued messages.
        if let existing = sessions[key], let owner = existing.username, owner != packet.username {
            logger.warning("mqtt session takeover refused: the client id belongs to another user", metadata: [
                "client": "\(clientId)", "owner": "\(owner)", "username": "\(packet.username ?? "")", "remote": "\(connection.handle.remoteAddress)",
            ])
            refuseConnect(connection, reason: .notAuthorized, reasonString: "client id in use by another user", event: "not_authorized")
            return
        }
        // Session takeover: the connection that holds the client id is closed first [MQTT-3.1.4-3].
        if let existing = sessions[key], let oldId = existing.connectionId, let old = connections[oldId] {
            logger.info("mqtt session taken over", metadata: ["client": "\(clientId)", "old": "\(old.handle.remoteAddress)", "new": "\(connection.handle.remoteAddress)"])
            disconnect(old, reason: .sessionTakenOver, reasonString: "another connection uses this client id", event: "takeover")
        }

        let expiry: UInt32 = version == .v5 ? (packet.properties.sessionExpiryInterval ?? 0) : (packet.cleanStart ? 0 : UInt32.max)
        let session: Session
        var sessionPresent = false
        if let existing = sessions[key], !packet.cleanStart {
            session = existing
            sessionPresent = true
        } else {
            if let existing = sessions[key] {
                // A new connection cancels a delayed will [MQTT-3.1.3-9]; a clean start ends the old session.
                existing.pendingWill = nil
                existing.willDueAtMilliseconds = nil
                endSession(existing, reason: "clean_start")
            }
            session = Session(clientId: clientId, protocolVersion: version, expiryIntervalSeconds: expiry)
            sessions[key] = session
        }
        session.pendingWill = nil
        session.pendingWillUsername = nil
        session.willDueAtMilliseconds = nil
        session.protocolVersion = version
        session.username = packet.username
        session.expiryIntervalSeconds = expiry
        session.expiresAtMilliseconds = nil
        session.connectionId = connection.handle.id
        connection.session = session
        session.generation &+= 1
        session.will = packet.will
        if let will = packet.will, !authorizer.mayPublish(will.topic, clientId: clientId, username: packet.username) {
            logger.info("mqtt will not authorized; it will not be published", metadata: ["client": "\(clientId)", "topic": "\(will.topic)"])
            emit("message.dropped", clientId: clientId, username: packet.username, [
                ("topic", .string(will.topic)), ("qos", .integer(Int64(will.qos.rawValue))), ("reason", .string("not_authorized")),
            ])
            session.will = nil
        }

        // Server Keep Alive: a client asking for longer than the maximum (or for none) gets the maximum. A
        // 3.x client cannot be told, so it is held to what it asked for.
        var keepAlive = packet.keepAliveSeconds
        var serverKeepAlive: UInt16? = nil
        let maximumKeepAlive = configuration.maximumKeepAliveSeconds
        if version == .v5, maximumKeepAlive > 0, keepAlive == 0 || keepAlive > maximumKeepAlive {
            keepAlive = maximumKeepAlive
            serverKeepAlive = maximumKeepAlive
        }

        connection.clientId = clientId
        connection.username = packet.username
        connectedCount += 1
        if version == .v5 {
            let properties = packet.properties
            connection.clientReceiveMaximum = Int(properties.receiveMaximum ?? UInt16.max)
            connection.clientMaximumPacketSize = properties.maximumPacketSize.map { Int($0) } ?? Int.max
            connection.clientTopicAliasMaximum = properties.topicAliasMaximum ?? 0
            connection.problemInformation = properties.requestProblemInformation != 0
        }

        var properties = MQTTProperties()
        if version == .v5 {
            properties.assignedClientIdentifier = assignedClientId
            properties.receiveMaximum = configuration.receiveMaximum
            properties.maximumPacketSize = UInt32(clamping: configuration.maximumPacketSize)
            properties.topicAliasMaximum = configuration.topicAliasMaximum
            properties.serverKeepAlive = serverKeepAlive
        }
        send(.connAck(MQTTConnAck(sessionPresent: sessionPresent, reasonCode: .success, properties: properties)), on: connection)
        connection.handle.startKeepAlive(seconds: keepAlive)
        if case .allowAs(_, _, let until?) = authentication {
            // A token's expiry ends the connection (EMQX does the same); 5.0 clients are told why.
            let connectionId = connection.handle.id
            let expiringClient = clientId
            let delay = max(0, until - Int64(Date().timeIntervalSince1970 * 1000))
            eventLoop.scheduleTask(in: .milliseconds(delay)) {
                guard let live = self.connections[connectionId], !live.closed else { return }
                self.logger.info("mqtt connection closed: its token expired", metadata: ["client": "\(expiringClient)"])
                self.disconnect(live, reason: .maximumConnectTime, reasonString: "the token expired", event: "token_expired")
            }
        }
        logger.debug("mqtt client connected", metadata: ["client": "\(clientId)", "version": "\(version)", "remote": "\(connection.handle.remoteAddress)"])
        emit("client.connected", clientId: clientId, username: packet.username, [
            ("protocol_version", .integer(Int64(version.rawValue))),
            ("keepalive", .integer(Int64(keepAlive))),
            ("clean_start", .bool(packet.cleanStart)),
            ("session_expiry", .integer(Int64(expiry == UInt32.max ? -1 : Int64(expiry)))),
            ("session_present", .bool(sessionPresent)),
            ("peer", .string(connection.handle.remoteAddress)),
        ])

        if session.isPersistent {
            persist(session, durable: false)
        }
        if sessionPresent {
            resume(session, on: connection, now: now)
        }
    }

    /// The reason code of a refusal, or nil: the authenticator chain's answer, or without one (a CONNECT
    /// handed over directly) the anonymous-access rule.
    private func refusal(of packet: MQTTConnect, _ authentication: MQTTAuthenticationDecision?) -> MQTTReasonCode? {
        switch authentication {
        case .allow, .allowAs: return nil
        case .deny(let code): return code
        case .ignore, nil:
            if packet.username == nil { return configuration.allowAnonymous ? nil : .notAuthorized }
            return configuration.allowAnonymous ? nil : .badUserNameOrPassword
        }
    }

    /// Answers a CONNECT with a failure and closes the connection. A 3.x client gets the nearest return
    /// code when there is one; otherwise the connection just closes (3.1.1 has no code for it).
    func refuseConnect(_ connection: ConnectionState, reason: MQTTReasonCode, reasonString: String?, event: String) {
        logger.info("mqtt CONNECT refused", metadata: [
            "remote": "\(connection.handle.remoteAddress)", "reason": "\(reason)", "detail": "\(reasonString ?? "")",
        ])
        let version = connection.version ?? .v3_1_1
        connection.version = version
        let hasThreeOneOneCode = [MQTTReasonCode.unsupportedProtocolVersion, .clientIdentifierNotValid, .serverUnavailable, .quotaExceeded,
                                  .badUserNameOrPassword, .notAuthorized, .serverBusy, .banned, .badAuthenticationMethod].contains(reason)
        if version == .v5 || hasThreeOneOneCode {
            var properties = MQTTProperties()
            if version == .v5 { properties.reasonString = reasonString.map { String($0.prefix(256)) } }
            send(.connAck(MQTTConnAck(sessionPresent: false, reasonCode: reason, properties: properties)), on: connection)
        }
        connection.disconnectReason = event
        closeConnection(connection, flushFirst: true)
    }

    /// Why a topic name cannot be published to, or nil: wildcards, length and level limits.
    func topicNameProblem(_ topic: String) -> String? {
        guard MQTTTopic.validateName(topic) else { return "invalid topic name" }
        if topic.utf8.count > configuration.maximumTopicLength { return "topic longer than \(configuration.maximumTopicLength) bytes" }
        if levelCount(topic) > configuration.maximumTopicLevels { return "topic has more than \(configuration.maximumTopicLevels) levels" }
        return nil
    }

    func levelCount(_ topic: String) -> Int {
        topic.utf8.reduce(1) { $1 == UInt8(ascii: "/") ? $0 + 1 : $0 }
    }

    // MARK: DISCONNECT from the client

    func clientDisconnected(_ packet: MQTTDisconnect, session: Session, on connection: ConnectionState) {
        if connection.version == .v5, let newExpiry = packet.properties.sessionExpiryInterval {
            // A session that was to end with its connection cannot be made persistent now [MQTT-3.14.2-2].
            if session.expiryIntervalSeconds == 0 && newExpiry != 0 {
                disconnect(connection, reason: .protocolError, reasonString: "session expiry was 0 at CONNECT", event: "protocol_error")
                return
            }
            session.expiryIntervalSeconds = newExpiry
        }
        // Only 0x04 keeps the will; 3.1.1's DISCONNECT always discards it [MQTT-3.14.4-3].
        connection.willDiscarded = !(connection.version == .v5 && packet.reasonCode == .disconnectWithWillMessage)
        if packet.reasonCode == .normalDisconnection || packet.reasonCode == .disconnectWithWillMessage {
            connection.disconnectReason = "normal"
        } else {
            connection.disconnectReason = "client_error"
            logger.info("mqtt client disconnected with an error", metadata: ["client": "\(session.clientId)", "reason": "\(packet.reasonCode)"])
        }
        closeConnection(connection)
    }
}
