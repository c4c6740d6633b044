import NIOCore
import NIOPosix

/// Watches the keep alive of the MQTT connections of one event loop with one repeated check for all of them
/// (every `interval`, only while some connection is watched), rather than a scheduled task per connection:
/// each of those held about 250 bytes (the task, its promise and future, the closure; heaptrack with 4,000
/// idle connections) and was armed again whenever it fired before the deadline had moved on.
///
/// One per event loop thread (`ThreadSpecificVariable`), confined to it.
final class KeepAliveWatch: @unchecked Sendable {
    /// How late past its deadline a silent connection may be closed.
    static let interval = TimeAmount.milliseconds(250)

    private static let perThread = ThreadSpecificVariable<KeepAliveWatch>()

    private let eventLoop: any EventLoop
    /// Bound: one entry per connection of this loop whose keep alive is on.
    private var watched: [ObjectIdentifier: MQTTChannelHandler] = [:]
    private var sweep: RepeatedTask? = nil

    private init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// The watch of the calling event loop's thread.
    static func current(on eventLoop: any EventLoop) -> KeepAliveWatch {
        eventLoop.preconditionInEventLoop()
        if let watch = perThread.currentValue, watch.eventLoop === eventLoop { return watch }
        let watch = KeepAliveWatch(eventLoop: eventLoop)
        perThread.currentValue = watch
        return watch
    }

    /// How many connections are watched (tests).
    var count: Int { watched.count }
    var isSweeping: Bool { sweep != nil }

    func watch(_ handler: MQTTChannelHandler) {
        watched[ObjectIdentifier(handler)] = handler
        if sweep == nil {
            sweep = eventLoop.scheduleRepeatedTask(initialDelay: Self.interval, delay: Self.interval) { _ in
                self.check()
            }
        }
    }

    func unwatch(_ handler: MQTTChannelHandler) {
        guard watched.removeValue(forKey: ObjectIdentifier(handler)) != nil, watched.isEmpty else { return }
        sweep?.cancel()
        sweep = nil
    }

    private func check() {
        let now = NIODeadline.now()
        for handler in Array(watched.values) where handler.keepAliveExpired(now: now) {
            unwatch(handler)
        }
    }
}
