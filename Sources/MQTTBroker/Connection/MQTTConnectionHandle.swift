import NIOConcurrencyHelpers
public import NIOCore

/// The broker's grip on a network connection (TCP or WebSocket alike): it can send bytes, start the keep
/// alive watch, and close. The broker encodes packets itself (it knows the connection's protocol version).
///
/// Sendable: the properties are immutable or lock-protected; `Channel` is thread-safe and its operations
/// hop to its loop.
public final class MQTTConnectionHandle: Sendable {
    public let id: UInt64
    let channel: any Channel
    public let remoteAddress: String
    /// Packets written by the broker and not yet handed to the channel: everything written during one
    /// turn of the broker's loop goes out with one flush (one system call) instead of one per packet.
    private let outbound = NIOLockedValueBox<[ByteBuffer]>([])

    public init(id: UInt64, channel: any Channel) {
        self.id = id
        self.channel = channel
        if let address = channel.remoteAddress {
            self.remoteAddress = "\(address.ipAddress ?? "unknown"):\(address.port ?? 0)"
        } else {
            self.remoteAddress = "unknown"
        }
    }

    func write(_ buffer: ByteBuffer) {
        let first: Bool = outbound.withLockedValue { pending in
            pending.append(buffer)
            return pending.count == 1
        }
        // The task that drains the queue is scheduled once per batch; later writes join that batch, or, once
        // it took the queue, find it empty and schedule the next.
        if first {
            channel.eventLoop.execute { self.drain() }
        }
    }

    /// Hands queued packets to the channel and flushes. On the channel's event loop.
    private func drain() {
        let buffers = outbound.withLockedValue { pending in
            let taken = pending
            pending.removeAll(keepingCapacity: true)
            return taken
        }
        guard !buffers.isEmpty else { return }
        for buffer in buffers { channel.write(buffer, promise: nil) }
        channel.flush()
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
