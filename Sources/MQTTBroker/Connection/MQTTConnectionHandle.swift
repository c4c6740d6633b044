import NIOConcurrencyHelpers
public import NIOCore

/// The broker's grip on a network connection (TCP or WebSocket alike): it can send bytes, start the keep
/// alive watch, and close. The broker encodes packets itself (it knows the connection's protocol version).
///
/// Sendable: the properties are immutable or lock-protected; `Channel` is thread-safe and its operations
/// hop to its loop.
public final class MQTTConnectionHandle: Sendable {
    /// How much may wait for a connection: while its channel is not writable (NIO's write buffer past its
    /// high watermark, 64 KiB by default: the socket does not keep up), or this handle's queue holds this
    /// many bytes (what the broker wrote and the connection's loop has not taken yet; a burst of one turn of
    /// the broker's loop must fit, or a healthy subscriber would lose QoS 0 messages to it), the connection
    /// has no room: QoS 0 messages to it are dropped (message.dropped, queue_full) and QoS 1/2 ones wait in
    /// the session's bounded queue.
    public static let maximumQueuedBytes = 1 << 20

    public let id: UInt64
    let channel: any Channel
    public let remoteAddress: String
    /// Packets written by the broker and not yet handed to the channel: everything written during one
    /// turn of the broker's loop goes out with one flush (one system call) instead of one per packet.
    private struct Outbound {
        var buffers: [ByteBuffer] = []
        var bytes = 0
        /// Someone found no room because of this queue: tell them when it is drained.
        var roomWanted = false
    }
    private let outbound = NIOLockedValueBox(Outbound())
    /// Called (on the channel's loop) when a connection that had no room has some again.
    private let roomAvailable: @Sendable () -> Void

    public init(id: UInt64, channel: any Channel, roomAvailable: @escaping @Sendable () -> Void = {}) {
        self.id = id
        self.channel = channel
        self.roomAvailable = roomAvailable
        if let address = channel.remoteAddress {
            self.remoteAddress = "\(address.ipAddress ?? "unknown"):\(address.port ?? 0)"
        } else {
            self.remoteAddress = "unknown"
        }
    }

    /// Whether a message may be written now without growing what waits for this connection past its
    /// bound. When it may not, `roomAvailable` is called once it may again (after the queue is drained,
    /// or when the channel becomes writable: the channel handler calls it then).
    var hasRoom: Bool {
        guard channel.isWritable else { return false }
        return outbound.withLockedValue { state in
            if state.bytes < Self.maximumQueuedBytes { return true }
            state.roomWanted = true
            return false
        }
    }

    func write(_ buffer: ByteBuffer) {
        let first: Bool = outbound.withLockedValue { state in
            state.buffers.append(buffer)
            state.bytes += buffer.readableBytes
            return state.buffers.count == 1
        }
        // The task that drains the queue is scheduled once per batch; later writes join that batch, or, once
        // it took the queue, find it empty and schedule the next.
        if first {
            channel.eventLoop.execute { self.drain() }
        }
    }

    /// Hands queued packets to the channel and flushes. On the channel's event loop.
    private func drain() {
        let (buffers, roomWanted) = outbound.withLockedValue { state in
            let taken = state.buffers
            let wanted = state.roomWanted
            // Not removeAll(keepingCapacity:): `taken` shares the storage, so that would allocate a new array
            // at once and an idle connection would keep it.
            state.buffers = []
            state.bytes = 0
            state.roomWanted = false
            return (taken, wanted)
        }
        if !buffers.isEmpty {
            for buffer in buffers { channel.write(buffer, promise: nil) }
            channel.flush()
        }
        // Not writable: the channel handler tells when it becomes writable again.
        if roomWanted && channel.isWritable { roomAvailable() }
    }

    /// Watches for 1.5 × the keep alive without a packet from the client [MQTT-3.1.2-24]; 0 turns it off.
    func startKeepAlive(seconds: UInt16) {
        guard seconds > 0 else { return }
        let timeout = TimeAmount.milliseconds(Int64(seconds) * 1500)
        channel.eventLoop.execute {
            self.channel.pipeline.fireUserInboundEventTriggered(MQTTKeepAlive.start(timeout))
        }
    }

    /// Stops (true) or resumes (false) reading from the connection: the broker's back-pressure while its
    /// publishes are being stored.
    func holdReading(_ hold: Bool) {
        channel.eventLoop.execute {
            self.channel.pipeline.fireUserInboundEventTriggered(MQTTReadControl(hold: hold))
        }
    }

    func close() {
        channel.close(promise: nil)
    }

    /// Closes once what was written so far has gone out (a final CONNACK or DISCONNECT).
    func closeAfterFlush() {
        // Writes complete in order: once this empty one has, everything before it is out.
        let channel = self.channel
        channel.eventLoop.execute {
            self.drain()
            channel.writeAndFlush(ByteBuffer()).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }
}

/// Tells the connection's channel handler to hold reads back or let them go again.
struct MQTTReadControl: Sendable {
    var hold: Bool
}

/// Tells the connection's channel handler to start the keep alive watch.
public enum MQTTKeepAlive: Sendable {
    case start(TimeAmount)
}
