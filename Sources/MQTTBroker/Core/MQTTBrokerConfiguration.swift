/// Limits and behaviour of the MQTT broker; each limit, when hit, gets a clear reason code.
public struct MQTTBrokerConfiguration: Sendable {
    /// Largest packet accepted (and advertised as Maximum Packet Size); larger ones close the connection
    /// with 0x95 Packet too large.
    public var maximumPacketSize = 1 << 20
    /// QoS 1 and 2 publishes a client may have unacknowledged towards the broker (Receive Maximum);
    /// more is 0x93 Receive Maximum exceeded.
    public var receiveMaximum: UInt16 = 100
    /// Publishes of one connection (any QoS) whose append has not completed: at this many the connection
    /// stops being read until half of them are stored, so a publisher that outruns storage (3.1.1 and 5.0
    /// alike, QoS 0 included) waits in TCP instead of in the broker's memory. The overshoot is what one
    /// socket read already held.
    public var maximumPublishesBeingStored = 100
    /// Outbound QoS 1 and 2 messages in flight per client, below the client's own Receive Maximum.
    public var maximumInflight = 100
    /// Messages waiting behind the inflight window per connected client; beyond it they are dropped
    /// (message.dropped, reason queue_full).
    public var maximumQueuedMessages = 10_000
    /// Longest topic name or filter in bytes, and most levels.
    public var maximumTopicLength = 65_535
    public var maximumTopicLevels = 128
    /// Simultaneous connections; more get 0x97 Quota exceeded (3.1.1: server unavailable).
    public var maximumConnections = 100_000
    /// Topic aliases a client may use towards the broker.
    public var topicAliasMaximum: UInt16 = 64
    /// Longest keep alive accepted (seconds); 0 accepts any, including none. A client asking for more, or
    /// for none, is told this value as Server Keep Alive (MQTT 5) and held to it.
    public var maximumKeepAliveSeconds: UInt16 = 0
    /// Longest client id accepted.
    public var maximumClientIdLength = 256
    /// A connection that has not completed CONNECT in this time is closed.
    public var connectTimeoutMilliseconds: Int64 = 10_000
    /// Whether clients without a user name may connect (`mqtt-allow-anonymous`). Users are checked by the
    /// authenticators given to the core (the user base, ...), see MQTTAuthenticatorChain.
    public var allowAnonymous = true
    /// Who may publish and subscribe where (`mqtt-acl`); no rules: everyone everywhere.
    public var authorizer = MQTTTopicAuthorizer()
    /// Device events written to the events topic; delivered/acked are off by default for their cost.
    public var enabledEvents: Set<String> = [
        "client.connected", "client.disconnected", "client.auth_failed", "session.subscribed", "session.unsubscribed", "message.dropped",
        "will.published",
    ]
    /// How often `$SYS/` topics are refreshed.
    public var systemTopicIntervalSeconds = 10
    /// How often connected persistent sessions write their cursor.
    public var sessionCheckpointIntervalMilliseconds: Int64 = 5_000

    /// Whether a publish that matches no subscription emits message.dropped (reason no_subscribers). Off by
    /// default: with durable ingress every publish is stored in its topic, so nothing is lost, and devices
    /// that only feed topics would fill the events topic.
    public var reportNoSubscribers = false
    /// What `$SYS/broker/version` says.
    public var serverVersion = "tributary"

    public init() {}

    public static let allEvents: Set<String> = [
        "client.connected", "client.disconnected", "client.auth_failed", "session.subscribed", "session.unsubscribed", "message.delivered",
        "message.acked", "message.dropped", "will.published",
    ]
}
