import Benchmark
import Coordinator
import KafkaProtocol
import NIOCore

// The group coordinator's state machines: how fast groups of one member go through
// JoinGroup/SyncGroup, how long a timer pass over many groups takes, and how much memory a group costs
// (compare the resident memory of the 1-group and 10,000-group runs).

func protocols() -> [ClassicGroup.SupportedProtocol] {
    [ClassicGroup.SupportedProtocol(name: "range", metadata: ByteBuffer(repeating: 7, count: 64))]
}

/// Creates `count` stable groups of one member each.
func stableGroups(_ count: Int) -> [ClassicGroup] {
    var settings = GroupSettings()
    settings.initialRebalanceDelayMilliseconds = 0
    var groups: [ClassicGroup] = []
    groups.reserveCapacity(count)
    var token: RequestToken = 0
    for index in 0..<count {
        var group = ClassicGroup(groupId: "group-\(index)", now: 0)
        token += 1
        let request = ClassicGroup.JoinRequest(
            memberId: "", groupInstanceId: nil, clientId: "client-\(index)", clientHost: "/127.0.0.1", rebalanceTimeoutMilliseconds: 30_000,
            sessionTimeoutMilliseconds: 10_000, protocolType: "consumer", protocols: protocols(), requireKnownMemberId: false, supportsSkipAssignment: true)
        var memberId = ""
        for action in group.join(request, token: token, settings: settings, now: 1) {
            if case .completeJoin(_, let result) = action { memberId = result.memberId }
        }
        token += 1
        _ = group.sync(memberId: memberId, generationId: 1, groupInstanceId: nil, protocolType: nil, protocolName: nil,
                       assignments: [memberId: ByteBuffer(repeating: 1, count: 32)], token: token, now: 2)
        groups.append(group)
    }
    return groups
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .peakMemoryResident, .mallocCountTotal],
        warmupIterations: 1,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    for count in [1, 10_000] {
        Benchmark("Create \(count) stable group\(count > 1 ? "s" : "") of one member (JoinGroup + SyncGroup)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(stableGroups(count))
            }
        }
    }

    // The coordinator keeps groups in a dictionary and mutates them in place.
    Benchmark("Timer pass (tick) over 10,000 stable groups with nothing due") { benchmark in
        var groups = Dictionary(uniqueKeysWithValues: stableGroups(10_000).map { ($0.groupId, $0) })
        var settings = GroupSettings()
        settings.initialRebalanceDelayMilliseconds = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let due = groups.compactMap { groupId, group in (group.nextDeadline ?? .max) <= 1_000 ? groupId : nil }
            for groupId in due {
                blackHole(groups[groupId]!.tick(settings: settings, now: 1_000))
            }
        }
        benchmark.stopMeasurement()
    }

    Benchmark("10,000 heartbeats, one to each of 10,000 groups") { benchmark in
        var groups = Dictionary(uniqueKeysWithValues: stableGroups(10_000).map { ($0.groupId, $0) })
        let members = groups.mapValues { $0.orderedMembers.first!.memberId }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for (groupId, memberId) in members {
                blackHole(groups[groupId]!.heartbeat(memberId: memberId, generationId: 1, groupInstanceId: nil, now: 500))
            }
        }
        benchmark.stopMeasurement()
    }
}
