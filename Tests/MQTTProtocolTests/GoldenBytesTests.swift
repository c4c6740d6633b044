import MQTTProtocol
import NIOCore
import Testing

/// Byte layouts written out by hand from the MQTT 3.1.1 and 5.0 specifications, field by field, so that
/// the encoder and the decoder are checked against something they did not produce themselves.
@Suite struct GoldenBytesTests {
    /// Encodes `packet` and expects `expected`; decodes `expected` and expects `packet`, consuming it all.
    func check(
        _ packet: MQTTPacket, version: MQTTProtocolVersion, _ expected: ByteBuffer,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var encoded = ByteBuffer()
        try MQTTPacketCodec.encode(packet, version: version, into: &encoded)
        #expect(encoded == expected, "encoded \(encoded.hexDump)\nexpected \(expected.hexDump)", sourceLocation: sourceLocation)
        #expect(try MQTTPacketCodec.encodedSize(packet, version: version) == expected.readableBytes, sourceLocation: sourceLocation)
        try checkDecodes(expected, version: version, as: packet, sourceLocation: sourceLocation)
    }

    /// Decodes `bytes` (which may be a non-canonical form) as `packet`.
    func checkDecodes(
        _ bytes: ByteBuffer, version: MQTTProtocolVersion, as packet: MQTTPacket,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var input = bytes
        let isConnect = if case .connect = packet { true } else { false }
        let decoded = try MQTTPacketCodec.decode(from: &input, version: isConnect ? nil : version, maximumPacketSize: .max)
        #expect(input.readableBytes == 0, sourceLocation: sourceLocation)
        #expect(decoded == packet, sourceLocation: sourceLocation)
    }

    // MARK: CONNECT

    @Test func connect311WithWillUsernameAndPassword() throws {
        let connect = MQTTConnect(
            protocolVersion: .v3_1_1, cleanStart: true, keepAliveSeconds: 60, clientId: "client",
            will: MQTTWill(topic: "will/topic", payload: hex("\"bye\""), qos: .atLeastOnce, retain: true),
            username: "user", password: hex("\"secret\""))
        try check(.connect(connect), version: .v3_1_1, hex("""
            10 31           # CONNECT, remaining length 49
            0004 "MQTT"     # protocol name
            04              # protocol level 4 (3.1.1)
            ee              # flags: user name, password, will retain, will QoS 1, will, clean session
            003c            # keep alive 60 s
            0006 "client"   # client identifier
            000a "will/topic"
            0003 "bye"      # will message (binary data)
            0004 "user"
            0006 "secret"   # password (binary data)
            """))
    }

    @Test func connect31() throws {
        let connect = MQTTConnect(protocolVersion: .v3_1, cleanStart: true, keepAliveSeconds: 10, clientId: "abc")
        try check(.connect(connect), version: .v3_1, hex("""
            10 11
            0006 "MQIsdp"   # the 3.1 protocol name
            03              # level 3
            02              # clean session
            000a
            0003 "abc"
            """))
    }

    @Test func connect5WithProperties() throws {
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 3600
        properties.authenticationMethod = "SCRAM"
        properties.authenticationData = hex("0102")
        properties.requestProblemInformation = 0
        properties.requestResponseInformation = 1
        properties.receiveMaximum = 20
        properties.topicAliasMaximum = 10
        properties.userProperties = [MQTTUserProperty(name: "k", value: "v")]
        properties.maximumPacketSize = 65536
        var willProperties = MQTTProperties()
        willProperties.willDelayInterval = 5
        willProperties.payloadFormatIndicator = 1
        willProperties.contentType = "text/plain"
        let connect = MQTTConnect(
            protocolVersion: .v5, cleanStart: true, keepAliveSeconds: 30, clientId: "dev-1",
            will: MQTTWill(topic: "status", payload: hex("\"offline\""), qos: .atMostOnce, retain: false, properties: willProperties),
            username: "alice", password: nil, properties: properties)
        try check(.connect(connect), version: .v5, hex("""
            10 67               # CONNECT, remaining length 103
            0004 "MQTT" 05      # protocol name, level 5
            86                  # flags: user name, will (QoS 0, no retain), clean start
            001e                # keep alive 30 s
            28                  # property length 40, properties in identifier order:
              11 00000e10       #   session expiry interval 3600
              15 0005 "SCRAM"   #   authentication method
              16 0002 0102      #   authentication data
              17 00             #   request problem information 0
              19 01             #   request response information 1
              21 0014           #   receive maximum 20
              22 000a           #   topic alias maximum 10
              26 0001 "k" 0001 "v"  # user property
              27 00010000       #   maximum packet size 65536
            0005 "dev-1"        # client identifier
            14                  # will property length 20
              01 01             #   payload format indicator: UTF-8
              03 000a "text/plain"
              18 00000005       #   will delay interval 5 s
            0006 "status"       # will topic
            0007 "offline"      # will payload
            0005 "alice"        # user name
            """))
    }

    @Test func connect5PasswordWithoutUsername() throws {
        // Allowed from 5.0 on (a token as the password, say); 3.1.1 forbids it.
        let connect = MQTTConnect(protocolVersion: .v5, cleanStart: false, keepAliveSeconds: 0, clientId: "", password: hex("ab"))
        try check(.connect(connect), version: .v5, hex("""
            10 10
            0004 "MQTT" 05
            40                  # password only; clean start off
            0000
            00                  # no properties
            0000                # empty client identifier
            0001 ab
            """))
    }

    // MARK: CONNACK

    @Test func connAck311() throws {
        try check(.connAck(MQTTConnAck(sessionPresent: true, reasonCode: .success)), version: .v3_1_1, hex("20 02 01 00"))
        try check(.connAck(MQTTConnAck(sessionPresent: false, reasonCode: .notAuthorized)), version: .v3_1_1, hex("20 02 00 05"))
        try check(.connAck(MQTTConnAck(reasonCode: .unsupportedProtocolVersion)), version: .v3_1_1, hex("20 02 00 01"))
        // 3.1 has no session present flag: the first byte is unused.
        try check(.connAck(MQTTConnAck(reasonCode: .clientIdentifierNotValid)), version: .v3_1, hex("20 02 00 02"))
    }

    @Test func connAck311MapsReasonCodesToReturnCodes() throws {
        var encoded = ByteBuffer()
        try MQTTPacketCodec.encode(.connAck(MQTTConnAck(reasonCode: .banned, properties: {
            var properties = MQTTProperties()
            properties.reasonString = "not sent to 3.x"
            return properties
        }())), version: .v3_1_1, into: &encoded)
        #expect(encoded == hex("20 02 00 05  # banned → not authorized; properties left out"))
        encoded.clear()
        try MQTTPacketCodec.encode(.connAck(MQTTConnAck(reasonCode: .serverBusy)), version: .v3_1_1, into: &encoded)
        #expect(encoded == hex("20 02 00 03  # server busy → server unavailable"))
        encoded.clear()
        try MQTTPacketCodec.encode(.connAck(MQTTConnAck(sessionPresent: true)), version: .v3_1, into: &encoded)
        #expect(encoded == hex("20 02 00 00  # no session present flag in 3.1"))
    }

    @Test func connAck5() throws {
        var properties = MQTTProperties()
        properties.assignedClientIdentifier = "auto-1"
        properties.serverKeepAlive = 60
        properties.receiveMaximum = 10
        properties.topicAliasMaximum = 5
        properties.maximumQoS = 1
        properties.retainAvailable = 1
        properties.maximumPacketSize = 0x10_0000
        properties.wildcardSubscriptionAvailable = 1
        properties.subscriptionIdentifierAvailable = 0
        properties.sharedSubscriptionAvailable = 1
        try check(.connAck(MQTTConnAck(sessionPresent: false, reasonCode: .success, properties: properties)), version: .v5, hex("""
            20 24               # CONNACK, remaining length 36
            00                  # no session present
            00                  # success
            21                  # property length 33
              12 0006 "auto-1"  #   assigned client identifier
              13 003c           #   server keep alive 60
              21 000a           #   receive maximum 10
              22 0005           #   topic alias maximum 5
              24 01             #   maximum QoS 1
              25 01             #   retain available
              27 00100000       #   maximum packet size 1 MiB
              28 01             #   wildcard subscriptions available
              29 00             #   subscription identifiers not available
              2a 01             #   shared subscriptions available
            """))
        var refusal = MQTTProperties()
        refusal.serverReference = "other:1"
        try check(.connAck(MQTTConnAck(reasonCode: .useAnotherServer, properties: refusal)), version: .v5, hex("""
            20 0d 00
            9c                  # use another server
            0a 1c 0007 "other:1"
            """))
    }

    // MARK: PUBLISH

    @Test func publish311() throws {
        try check(.publish(MQTTPublish(topic: "a/b", payload: hex("\"hello\""))), version: .v3_1_1, hex("""
            30 0a           # PUBLISH QoS 0, remaining length 10
            0003 "a/b"      # topic name; no packet identifier at QoS 0
            "hello"         # payload: the rest of the packet
            """))
        try check(.publish(MQTTPublish(dup: true, qos: .atLeastOnce, retain: true, topic: "a/b", packetId: 10, payload: hex("\"hi\""))), version: .v3_1_1, hex("""
            3b 09           # PUBLISH: DUP, QoS 1, RETAIN
            0003 "a/b"
            000a            # packet identifier 10
            "hi"
            """))
        try check(.publish(MQTTPublish(qos: .exactlyOnce, topic: "t", packetId: 0x1234, payload: hex("\"x\""))), version: .v3_1_1, hex("""
            34 06 0001 "t" 1234 "x"     # QoS 2
            """))
        try check(.publish(MQTTPublish(topic: "a", payload: ByteBuffer())), version: .v3_1_1, hex("30 03 0001 \"a\"  # empty payload"))
    }

    @Test func publish5WithEveryPublishProperty() throws {
        var properties = MQTTProperties()
        properties.payloadFormatIndicator = 1
        properties.messageExpiryInterval = 60
        properties.contentType = "application/json"
        properties.responseTopic = "r/s/1"
        properties.correlationData = hex("deadbeef")
        properties.subscriptionIdentifiers = [5, 128]
        properties.topicAlias = 1
        properties.userProperties = [MQTTUserProperty(name: "a", value: "bc")]
        try check(.publish(MQTTPublish(qos: .atLeastOnce, topic: "s/1", packetId: 7, properties: properties, payload: hex("\"{}\""))), version: .v5, hex("""
            32 43                       # PUBLISH QoS 1, remaining length 67
            0003 "s/1"                  # topic name
            0007                        # packet identifier
            39                          # property length 57
              01 01                     #   payload format indicator: UTF-8
              02 0000003c               #   message expiry interval 60 s
              03 0010 "application/json"  # content type
              08 0005 "r/s/1"           #   response topic
              09 0004 deadbeef          #   correlation data
              0b 05                     #   subscription identifier 5
              0b 8001                   #   subscription identifier 128 (variable byte integer)
              23 0001                   #   topic alias 1
              26 0001 "a" 0002 "bc"     #   user property
            "{}"                        # payload
            """))
    }

    @Test func publish5TopicAliasAndQoS2() throws {
        var alias = MQTTProperties()
        alias.topicAlias = 1
        try check(.publish(MQTTPublish(topic: "", properties: alias, payload: hex("\"data\""))), version: .v5, hex("""
            30 0a
            0000            # empty topic name: the alias stands for it
            03 23 0001      # topic alias 1
            "data"
            """))
        try check(.publish(MQTTPublish(qos: .exactlyOnce, retain: true, topic: "t", packetId: 2, payload: hex("\"x\""))), version: .v5, hex("""
            35 07 0001 "t" 0002
            00              # no properties
            "x"
            """))
    }

    // MARK: PUBACK, PUBREC, PUBREL, PUBCOMP

    @Test func acknowledgements311() throws {
        let acknowledgement = MQTTPacketAcknowledgement(packetId: 7)
        try check(.pubAck(acknowledgement), version: .v3_1_1, hex("40 02 0007"))
        try check(.pubRec(acknowledgement), version: .v3_1_1, hex("50 02 0007"))
        try check(.pubRel(acknowledgement), version: .v3_1_1, hex("62 02 0007  # PUBREL's flags are 0010"))
        try check(.pubComp(acknowledgement), version: .v3_1_1, hex("70 02 0007"))
    }

    @Test func acknowledgements5ShortAndLongForms() throws {
        try check(.pubAck(MQTTPacketAcknowledgement(packetId: 7)), version: .v5, hex("40 02 0007  # success, no properties: both left out"))
        try check(.pubAck(MQTTPacketAcknowledgement(packetId: 7, reasonCode: .noMatchingSubscribers)), version: .v5, hex("""
            40 03 0007 10   # a reason code without properties: no property length
            """))
        var reason = MQTTProperties()
        reason.reasonString = "bad"
        try check(.pubRec(MQTTPacketAcknowledgement(packetId: 7, reasonCode: .payloadFormatInvalid, properties: reason)), version: .v5, hex("""
            50 0a 0007
            99                  # payload format invalid
            06 1f 0003 "bad"    # reason string
            """))
        try check(.pubRel(MQTTPacketAcknowledgement(packetId: 7, reasonCode: .packetIdentifierNotFound)), version: .v5, hex("62 03 0007 92"))
        var user = MQTTProperties()
        user.userProperties = [MQTTUserProperty(name: "k", value: "v")]
        try check(.pubComp(MQTTPacketAcknowledgement(packetId: 7, properties: user)), version: .v5, hex("""
            70 0b 0007
            00                  # success must be written when properties follow
            07 26 0001 "k" 0001 "v"
            """))
        // The longer forms of the same values are legal and decode alike.
        try checkDecodes(hex("40 03 0007 00"), version: .v5, as: .pubAck(MQTTPacketAcknowledgement(packetId: 7)))
        try checkDecodes(hex("40 04 0007 00 00"), version: .v5, as: .pubAck(MQTTPacketAcknowledgement(packetId: 7)))
    }

    // MARK: SUBSCRIBE, SUBACK

    @Test func subscribe311() throws {
        let subscribe = MQTTSubscribe(packetId: 10, subscriptions: [
            MQTTSubscription(filter: "a/b", options: MQTTSubscriptionOptions(qos: .atLeastOnce)),
            MQTTSubscription(filter: "c/#", options: MQTTSubscriptionOptions(qos: .exactlyOnce)),
        ])
        try check(.subscribe(subscribe), version: .v3_1_1, hex("""
            82 0e           # SUBSCRIBE, flags 0010
            000a            # packet identifier
            0003 "a/b" 01   # filter, requested QoS 1
            0003 "c/#" 02
            """))
    }

    @Test func subscribe5WithOptions() throws {
        var properties = MQTTProperties()
        properties.subscriptionIdentifiers = [42]
        let subscribe = MQTTSubscribe(packetId: 11, subscriptions: [
            MQTTSubscription(filter: "a/+", options: MQTTSubscriptionOptions(qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend)),
            MQTTSubscription(filter: "$share/g/x/y/#", options: MQTTSubscriptionOptions(qos: .atMostOnce, retainHandling: .sendOnNewSubscribe)),
        ], properties: properties)
        try check(.subscribe(subscribe), version: .v5, hex("""
            82 1c 000b
            02 0b 2a                # subscription identifier 42
            0003 "a/+" 2d           # QoS 1, no local, retain as published, retain handling 2
            000e "$share/g/x/y/#" 10    # QoS 0, retain handling 1
            """))
    }

    @Test func subAck() throws {
        try check(.subAck(MQTTSubAck(packetId: 10, reasonCodes: [.grantedQoS1, .grantedQoS2, .unspecifiedError])), version: .v3_1_1, hex("""
            90 05 000a 01 02 80
            """))
        var encoded = ByteBuffer()
        try MQTTPacketCodec.encode(.subAck(MQTTSubAck(packetId: 10, reasonCodes: [.grantedQoS0, .topicFilterInvalid, .notAuthorized])), version: .v3_1_1, into: &encoded)
        #expect(encoded == hex("90 05 000a 00 80 80  # 5.0 refusals become 3.1.1's failure 0x80"))
        var properties = MQTTProperties()
        properties.reasonString = "ok"
        try check(.subAck(MQTTSubAck(packetId: 11, reasonCodes: [.grantedQoS1, .topicFilterInvalid, .wildcardSubscriptionsNotSupported], properties: properties)), version: .v5, hex("""
            90 0b 000b
            05 1f 0002 "ok"
            01 8f a2
            """))
    }

    // MARK: UNSUBSCRIBE, UNSUBACK

    @Test func unsubscribeAndUnsubAck() throws {
        try check(.unsubscribe(MQTTUnsubscribe(packetId: 12, filters: ["a/b", "#"])), version: .v3_1_1, hex("""
            a2 0a 000c 0003 "a/b" 0001 "#"
            """))
        try check(.unsubscribe(MQTTUnsubscribe(packetId: 12, filters: ["a/b"])), version: .v5, hex("""
            a2 08 000c 00 0003 "a/b"
            """))
        try check(.unsubAck(MQTTUnsubAck(packetId: 12)), version: .v3_1_1, hex("b0 02 000c"))
        try check(.unsubAck(MQTTUnsubAck(packetId: 12, reasonCodes: [.success, .noSubscriptionExisted])), version: .v5, hex("""
            b0 05 000c 00 00 11
            """))
    }

    // MARK: PINGREQ, PINGRESP, DISCONNECT, AUTH

    @Test func ping() throws {
        for version in MQTTProtocolVersion.allCases {
            try check(.pingReq, version: version, hex("c0 00"))
            try check(.pingResp, version: version, hex("d0 00"))
        }
    }

    @Test func disconnect() throws {
        try check(.disconnect(MQTTDisconnect()), version: .v3_1_1, hex("e0 00"))
        try check(.disconnect(MQTTDisconnect()), version: .v5, hex("e0 00  # normal disconnection: everything left out"))
        try check(.disconnect(MQTTDisconnect(reasonCode: .disconnectWithWillMessage)), version: .v5, hex("e0 01 04"))
        var properties = MQTTProperties()
        properties.sessionExpiryInterval = 0
        properties.reasonString = "gone"
        try check(.disconnect(MQTTDisconnect(reasonCode: .sessionTakenOver, properties: properties)), version: .v5, hex("""
            e0 0e 8e
            0c 11 00000000 1f 0004 "gone"
            """))
        try checkDecodes(hex("e0 02 00 00"), version: .v5, as: .disconnect(MQTTDisconnect()))
    }

    @Test func auth() throws {
        try check(.auth(MQTTAuth()), version: .v5, hex("f0 00"))
        var properties = MQTTProperties()
        properties.authenticationMethod = "SCRAM"
        properties.authenticationData = hex("010203")
        try check(.auth(MQTTAuth(reasonCode: .continueAuthentication, properties: properties)), version: .v5, hex("""
            f0 10 18
            0e 15 0005 "SCRAM" 16 0003 010203
            """))
        #expect(throws: MQTTEncodingError.self) {
            var buffer = ByteBuffer()
            try MQTTPacketCodec.encode(.auth(MQTTAuth()), version: .v3_1_1, into: &buffer)
        }
    }

    @Test func packetNames() {
        #expect(MQTTPacket.pingReq.name == "PINGREQ")
        #expect(MQTTPacket.pubRel(MQTTPacketAcknowledgement(packetId: 1)).name == "PUBREL")
        #expect(MQTTPacket.connAck(MQTTConnAck()).name == "CONNACK")
    }
}
