#if canImport(Glibc)
import Glibc
#endif
import LogStore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The process's file descriptors, shared out so that connections can never take the ones storage and the
/// runtime need. At start the soft RLIMIT_NOFILE is raised to the hard limit. Connections are admitted only
/// while `connections + open log files + reserve` stays below the limit, and MQTT connections leave the part
/// of Kafka's share that Kafka does not use; Kafka clients are admitted within their share even when the
/// rest is taken (storage that grew meanwhile eats into the reserve), so a flood of devices cannot lock out
/// the consumers. Past the limit a listener closes what it accepted and pauses accepting for a moment,
/// saying so once per episode.
///
/// Running out is not just unpleasant: libdispatch (under Swift concurrency) reads /proc for its worker
/// threads and crashes the process deliberately when that open fails, and storage needs descriptors to roll
/// segments and write checkpoints.
///
/// Sendable: the counts are guarded by a lock.
final class DescriptorBudget: Sendable {
    enum Listener: String, Sendable {
        case kafka
        case mqtt
    }

    /// The descriptor limit in force after start.
    let limit: Int
    /// Kept free for storage (segment rolls, checkpoints, snapshots), the runtime and the listeners.
    let reserve: Int
    /// Connections MQTT may not take: room for Kafka clients.
    let kafkaShare: Int
    let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State {
        var connections: [Listener: Int] = [:]
        /// Per listener: whether it is refusing, and how many it refused since it started to.
        var refusing: [Listener: Int] = [:]

        var total: Int { connections.values.reduce(0, +) }
    }

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.reserve = max(64, min(1024, limit / 8))
        self.kafkaShare = max(16, min(256, limit / 16))
        self.logger = logger
    }

    /// Raises the soft descriptor limit to the hard one and returns the limit in force.
    static func raiseLimit(logger: Logger) -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else {
            logger.warning("cannot read the descriptor limit; assuming 1024", metadata: ["errno": "\(errno)"])
            return 1024
        }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 {
                limits = raised
            } else {
                logger.warning("cannot raise the descriptor limit", metadata: ["soft": "\(limits.rlim_cur)", "hard": "\(limits.rlim_max)", "errno": "\(errno)"])
            }
        }
        return Int(clamping: limits.rlim_cur)
    }

    /// Connections that may be open at once right now; it shrinks as storage opens more files.
    var capacity: Int { limit - reserve - LogFile.openCount }

    /// The MQTT connection limit the descriptors allow at start, for the broker's own (CONNACK) limit.
    var mqttConnectionCeiling: Int { max(1, capacity - kafkaShare) }

    private func admits(_ listener: Listener, _ state: State, capacity: Int) -> Bool {
        let kafka = state.connections[.kafka, default: 0]
        switch listener {
        case .kafka:
            return kafka < kafkaShare || state.total < capacity
        case .mqtt:
            return state.total + max(0, kafkaShare - kafka) < capacity
        }
    }

    /// Counts a new connection in, or says no (and logs the first refusal of an episode).
    func admit(_ listener: Listener) -> Bool {
        let capacity = self.capacity
        let (admitted, announceRefusal, announceResumption, refused): (Bool, Bool, Bool, Int) = state.withLockedValue { state in
            if admits(listener, state, capacity: capacity) {
                state.connections[listener, default: 0] += 1
                let refused = state.refusing.removeValue(forKey: listener)
                return (true, false, refused != nil, refused ?? 0)
            }
            let first = state.refusing[listener] == nil
            state.refusing[listener, default: 0] += 1
            return (false, first, false, 0)
        }
        if announceRefusal {
            logger.warning("refusing new connections near the descriptor limit; accepting again once some close", metadata: [
                "listener": "\(listener.rawValue)", "limit": "\(limit)", "connections": "\(state.withLockedValue { $0.total })",
                "logFiles": "\(LogFile.openCount)", "reserve": "\(reserve)",
            ])
        }
        if announceResumption {
            logger.info("accepting connections again", metadata: ["listener": "\(listener.rawValue)", "refusedMeanwhile": "\(refused)"])
        }
        return admitted
    }

    func release(_ listener: Listener) {
        state.withLockedValue { $0.connections[listener, default: 0] -= 1 }
    }

    /// Installs on a listener's server channel NIO's accept backoff (EMFILE from accept(2) pauses accepting
    /// instead of spinning) and the gate that admits connections against the budget. On the channel's loop.
    func installGate(on server: any Channel, for listener: Listener) throws {
        try server.pipeline.syncOperations.addHandler(AcceptBackoffHandler(backoffProvider: { _ in .milliseconds(250) }))
        try server.pipeline.syncOperations.addHandler(DescriptorGate(budget: self, listener: listener))
    }
}

/// Sits in a listener's server channel before NIO's accept handler: each accepted connection is admitted
/// against the budget or closed at once, and accepting pauses for a moment after a refusal.
final class DescriptorGate: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    let budget: DescriptorBudget
    let listener: DescriptorBudget.Listener
    static let pauseAfterRefusal = TimeAmount.milliseconds(200)

    init(budget: DescriptorBudget, listener: DescriptorBudget.Listener) {
        self.budget = budget
        self.listener = listener
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        guard budget.admit(listener) else {
            child.close(promise: nil)
            let server = context.channel
            server.setOption(.autoRead, value: false).whenSuccess {
                server.eventLoop.scheduleTask(in: Self.pauseAfterRefusal) {
                    server.setOption(.autoRead, value: true).whenFailure { _ in }
                }
            }
            return
        }
        let budget = self.budget
        let listener = self.listener
        child.closeFuture.whenComplete { _ in budget.release(listener) }
        context.fireChannelRead(data)
    }
}
