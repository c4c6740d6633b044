@testable import MQTTBroker
import MQTTProtocol
import NIOCore
import NIOEmbedded
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The keep alive is watched per event loop (`KeepAliveWatch`), not with a timer per connection.
@Suite struct KeepAliveTests {
    /// The watch a connection's handler registered with (tests run on any thread, the watch is per loop thread).
    func watch(of client: Client) throws -> KeepAliveWatch? {
        try client.channel.pipeline.syncOperations.handler(type: MQTTChannelHandler.self).keepAliveWatch
    }

    func open(_ harness: Harness, _ clientId: String, keepAlive: UInt16) throws -> Client {
        let channel = EmbeddedChannel(handler: MQTTChannelHandler(core: harness.core), loop: harness.loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
        let client = Client(channel: channel, version: .v5, harness: harness)
        try client.send(.connect(MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAliveSeconds: keepAlive, clientId: clientId)))
        guard case .connAck = try client.receive() else { throw TestFailure() }
        return client
    }

    @Test func aSilentClientIsClosedAfterOneAndAHalfKeepAlivesAndATalkingOneIsNot() throws {
        let harness = Harness()
        let silent = try open(harness, "silent", keepAlive: 1)
        let talking = try open(harness, "talking", keepAlive: 1)
        let watch = try #require(try watch(of: talking))
        #expect(try self.watch(of: silent) === watch, "one watch per loop")
        // The handler reads the wall clock; the sweep runs on the embedded loop's clock.
        for _ in 0..<4 {
            usleep(500_000)
            try talking.send(.pingReq)
            harness.loop.advanceTime(by: KeepAliveWatch.interval)
        }
        // 2 s without a packet from `silent`: past 1.5 × 1 s.
        #expect(!silent.channel.isActive)
        #expect(talking.channel.isActive)
        #expect(watch.count == 1, "the closed connection is no longer watched")
    }

    @Test func theWatchLetsGoOfClosedConnectionsAndStopsWhenNoneIsLeft() throws {
        let harness = Harness()
        let first = try open(harness, "first", keepAlive: 60)
        let second = try open(harness, "second", keepAlive: 60)
        let none = try open(harness, "none", keepAlive: 0)
        #expect(try watch(of: none) == nil)
        let watch = try #require(try watch(of: first))
        #expect(watch.count == 2 && watch.isSweeping)
        try first.channel.close().wait()
        harness.loop.run()
        #expect(watch.count == 1 && watch.isSweeping)
        try second.channel.close().wait()
        harness.loop.run()
        #expect(watch.count == 0 && !watch.isSweeping)
    }
}
