public import Coordinator
public import KafkaProtocol
public import LogStore
public import Logging
public import NIOCore

/// Runs the classic group protocol and committed offsets: the `ClassicGroup` state machines live on one
/// event loop, which also owns the pending JoinGroup/SyncGroup responses and a 100 ms timer for
/// session, rebalance and sync deadlines. Offset commits and group metadata are records in the compacted
/// `__consumer_offsets` topic (Kafka's formats); a commit is acknowledged once its record is durable, and
/// everything is rebuilt from that topic at start.
///
/// The coordinator sees storage only through `GroupCoordinatorStorage` (the broker implements it): it does
/// not hold the broker, and the broker does not hold it.
///
/// Sendable: every mutable property is touched only on `eventLoop` (methods hop there first).
public final class GroupCoordinator: @unchecked Sendable {
    public struct Settings: Sendable {
        public var groups = GroupSettings()
        /// `offsets.topic.num.partitions`
        public var offsetsTopicPartitions: Int32 = 50
        /// `offsets.retention.minutes`, in milliseconds.
        public var offsetsRetentionMilliseconds: Int64 = 7 * 24 * 3_600_000
        /// `offset.metadata.max.bytes`
        public var offsetMetadataMaxBytes = 4096
        public init() {}
    }

    let storage: any GroupCoordinatorStorage
    let eventLoop: any EventLoop
    let settings: Settings
    let logger: Logger
    let offsets = OffsetStore()
    private var groups: [String: ClassicGroup] = [:]
    private var nextToken: RequestToken = 0
    private var pendingJoins: [RequestToken: EventLoopPromise<JoinResult>] = [:]
    private var pendingSyncs: [RequestToken: EventLoopPromise<SyncResult>] = [:]
    private var timer: RepeatedTask?
    private var lastRetentionCheck: Int64 = 0
    private var offsetLogs: [any PartitionLog]? = nil

    public init(storage: any GroupCoordinatorStorage, eventLoop: any EventLoop, settings: Settings, logger: Logger) {
        self.storage = storage
        self.eventLoop = eventLoop
        self.settings = settings
        self.logger = logger
    }

    static func now() -> Int64 { LogManager.wallClockMilliseconds() }

    // MARK: Start and stop

    /// Reads `__consumer_offsets` (if it exists) and restores offsets and groups, then starts the timer.
    public func start() async throws {
        var records: [OffsetsTopicRecord] = []
        if let logs = try storage.offsetsTopicLogs(creatingWith: nil, configs: Self.offsetsTopicConfigs) {
            for log in logs { records += try await readRecords(log) }
        }
        let loaded = records
        try await eventLoop.submit {
            self.restore(loaded)
            self.timer = self.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
                self.tick()
            }
        }.get()
    }

    public func stop() async {
        try? await eventLoop.submit {
            self.timer?.cancel()
            self.timer = nil
            for promise in self.pendingJoins.values { promise.succeed(.failure(.coordinatorNotAvailable)) }
            for promise in self.pendingSyncs.values { promise.succeed(.failure(.coordinatorNotAvailable)) }
            self.pendingJoins.removeAll()
            self.pendingSyncs.removeAll()
        }.get()
    }

    /// The offsets and group records of one partition. A record this version cannot read is skipped and
    /// logged: the group or offset it held is lost, the rest loads.
    func readRecords(_ log: any PartitionLog) async throws -> [OffsetsTopicRecord] {
        var records: [OffsetsTopicRecord] = []
        let logger = self.logger
        try await log.scanRecords { record, offset, _ in
            guard let key = record.key else { return }
            do {
                if let decoded = try OffsetsTopicRecord.decode(key: key, value: record.value) { records.append(decoded) }
            } catch {
                logger.error("skipped an unreadable __consumer_offsets record", metadata: ["partition": "\(log.topicPartition)", "offset": "\(offset)", "error": "\(error)"])
            }
        }
        return records
    }

    private func restore(_ records: [OffsetsTopicRecord]) {
        let now = Self.now()
        var stored: [String: StoredGroup?] = [:]
        for record in records {
            switch record {
            case .offset(let group, let partition, let committed):
                offsets.apply(group: group, [partition: committed])
            case .group(let group, let metadata):
                stored[group] = metadata
            }
        }
        for (groupId, metadata) in stored {
            guard let metadata else { continue }
            let members = metadata.members.map { member in
                ClassicGroup.Member(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId, clientHost: member.clientHost,
                    rebalanceTimeoutMilliseconds: member.rebalanceTimeoutMilliseconds, sessionTimeoutMilliseconds: member.sessionTimeoutMilliseconds,
                    protocolType: metadata.protocolType,
                    protocols: metadata.protocolName.map { [ClassicGroup.SupportedProtocol(name: $0, metadata: member.subscription)] } ?? [],
                    assignment: member.assignment, sessionDeadline: now)
            }
            groups[groupId] = ClassicGroup.restored(
                groupId: groupId, protocolType: metadata.protocolType.isEmpty ? nil : metadata.protocolType, generationId: metadata.generationId,
                protocolName: metadata.protocolName, leaderId: metadata.leaderId, stateTimestamp: metadata.stateTimestamp, members: members, now: now)
        }
        for group in offsets.groupsWithOffsets where groups[group] == nil {
            groups[group] = ClassicGroup(groupId: group, now: now)
        }
        if !records.isEmpty {
            logger.info("group coordinator loaded", metadata: ["records": "\(records.count)", "groups": "\(groups.count)"])
        }
    }

    // MARK: Helpers

    private func token() -> RequestToken {
        nextToken += 1
        return nextToken
    }

    /// Runs `body` on the stored group in place: copying a group out and back would copy its member
    /// table on every request. Nil when there is no such group.
    private func mutate<Result>(_ groupId: String, _ body: (inout ClassicGroup) -> Result) -> Result? {
        guard groups[groupId] != nil else { return nil }
        return body(&groups[groupId]!)
    }

    private func perform(_ actions: [GroupAction]) {
        for action in actions {
            switch action {
            case .completeJoin(let token, let result):
                pendingJoins.removeValue(forKey: token)?.succeed(result)
            case .completeSync(let token, let result):
                pendingSyncs.removeValue(forKey: token)?.succeed(result)
            case .persist(let groupId):
                persistGroup(groupId)
            }
        }
    }

    private func tick() {
        let now = Self.now()
        let due = groups.compactMap { groupId, group in (group.nextDeadline ?? .max) <= now ? groupId : nil }
        for groupId in due {
            perform(mutate(groupId) { $0.tick(settings: settings.groups, now: now) } ?? [])
        }
        if now - lastRetentionCheck >= 60_000 {
            lastRetentionCheck = now
            expireOffsets(now: now)
        }
    }

    static let offsetsTopicConfigs = ["cleanup.policy": "compact", "segment.bytes": "104857600"]

    /// The log of the `__consumer_offsets` partition that holds `groupId`, creating the topic on first use.
    private func offsetsLog(for groupId: String) -> EventLoopFuture<any PartitionLog> {
        // Placed by the topic's real partition count (a topic adopted from disk may have another than the setting).
        func place(_ logs: [any PartitionLog]) -> any PartitionLog {
            logs[Int(OffsetsTopicRecord.partition(for: groupId, partitionCount: Int32(logs.count)))]
        }
        if let logs = offsetLogs {
            return eventLoop.makeSucceededFuture(place(logs))
        }
        let storage = self.storage
        let count = settings.offsetsTopicPartitions
        return storage.threadPool.runIfActive(eventLoop: eventLoop) { () -> [any PartitionLog] in
            guard let logs = try storage.offsetsTopicLogs(creatingWith: count, configs: Self.offsetsTopicConfigs), !logs.isEmpty else {
                throw PartitionNotFound()
            }
            return logs
        }.map { logs in
            self.offsetLogs = logs
            return place(logs)
        }
    }

    /// Appends records durably to the group's offsets partition.
    private func write(_ records: [OffsetsTopicRecord], for groupId: String) -> EventLoopFuture<Void> {
        offsetsLog(for: groupId).flatMap { log in
            var builder = RecordBatchBuilder()
            let now = Self.now()
            for record in records { builder.append(key: record.key, value: record.value, timestamp: now) }
            let promise = self.eventLoop.makePromise(of: Void.self)
            do {
                var bytes = try builder.build()
                let batch = try RecordBatch.read(from: &bytes)
                log.append(batch, durability: .durable) { result in
                    switch result {
                    case .success: promise.succeed(())
                    case .failure(let error): promise.fail(error)
                    }
                }
            } catch {
                promise.fail(error)
            }
            return promise.futureResult
        }
    }

    private func persistGroup(_ groupId: String) {
        guard let group = groups[groupId] else { return }
        let stored = StoredGroup(
            protocolType: group.protocolType ?? "", generationId: group.generationId, protocolName: group.protocolName, leaderId: group.leaderId,
            stateTimestamp: group.stateTimestamp,
            members: group.orderedMembers.map { member in
                StoredGroup.Member(memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId, clientHost: member.clientHost,
                                   rebalanceTimeoutMilliseconds: member.rebalanceTimeoutMilliseconds, sessionTimeoutMilliseconds: member.sessionTimeoutMilliseconds,
                                   subscription: member.metadata(for: group.protocolName ?? ""), assignment: member.assignment)
            })
        write([.group(groupId, stored)], for: groupId).whenFailure { error in
            self.logger.error("writing group metadata failed", metadata: ["group": "\(groupId)", "error": "\(error)"])
        }
    }

    private func expireOffsets(now: Int64) {
        for groupId in offsets.groupsWithOffsets {
            let group = groups[groupId]
            guard group == nil || group!.state == .empty else { continue }
            let emptySince = group?.stateTimestamp ?? 0
            let expired = offsets.committed(group: groupId).filter { _, committed in
                // Saturating: a commit timestamp read back from the log may be anything.
                let (deadline, overflow) = max(committed.commitTimestamp, emptySince).addingReportingOverflow(settings.offsetsRetentionMilliseconds)
                return !overflow && deadline < now
            }.map(\.key)
            guard !expired.isEmpty else { continue }
            write(expired.map { .offset(group: groupId, partition: $0, nil) }, for: groupId).whenComplete { result in
                if case .success = result {
                    self.offsets.apply(group: groupId, Dictionary(uniqueKeysWithValues: expired.map { ($0, CommittedOffset?.none) }))
                    self.logger.info("expired committed offsets", metadata: ["group": "\(groupId)", "partitions": "\(expired.count)"])
                }
            }
        }
    }

    // MARK: Membership

    public func join(groupId: String, _ request: ClassicGroup.JoinRequest) -> EventLoopFuture<JoinResult> {
        eventLoop.flatSubmit {
            guard !groupId.isEmpty, groupId.utf8.count <= OffsetsTopicRecord.maximumStringBytes else {
                return self.eventLoop.makeSucceededFuture(.failure(.invalidGroupId, memberId: request.memberId))
            }
            // Everything stored in `__consumer_offsets` is an int16-length string in Kafka's record format.
            let strings = [request.groupInstanceId ?? "", request.protocolType, request.memberId] + request.protocols.map(\.name)
            guard strings.allSatisfy({ $0.utf8.count <= OffsetsTopicRecord.maximumStringBytes }) else {
                return self.eventLoop.makeSucceededFuture(.failure(.invalidRequest, memberId: request.memberId))
            }
            let now = Self.now()
            if self.groups[groupId] == nil || self.groups[groupId]!.state == .dead {
                self.groups[groupId] = ClassicGroup(groupId: groupId, now: now)
            }
            let token = self.token()
            let promise = self.eventLoop.makePromise(of: JoinResult.self)
            self.pendingJoins[token] = promise
            let settings = self.settings.groups
            self.perform(self.mutate(groupId) { $0.join(request, token: token, settings: settings, now: now) } ?? [])
            return promise.futureResult
        }
    }

    public func sync(groupId: String, memberId: String, generationId: Int32, groupInstanceId: String?, protocolType: String?, protocolName: String?,
                     assignments: [String: ByteBuffer]) -> EventLoopFuture<SyncResult> {
        eventLoop.flatSubmit {
            guard self.groups[groupId] != nil else {
                return self.eventLoop.makeSucceededFuture(.failure(groupId.isEmpty ? .invalidGroupId : .unknownMemberId))
            }
            let token = self.token()
            let promise = self.eventLoop.makePromise(of: SyncResult.self)
            self.pendingSyncs[token] = promise
            let actions = self.mutate(groupId) {
                $0.sync(memberId: memberId, generationId: generationId, groupInstanceId: groupInstanceId, protocolType: protocolType,
                        protocolName: protocolName, assignments: assignments, token: token, now: Self.now())
            }
            self.perform(actions ?? [])
            return promise.futureResult
        }
    }

    public func heartbeat(groupId: String, memberId: String, generationId: Int32, groupInstanceId: String?) -> EventLoopFuture<KafkaErrorCode> {
        eventLoop.submit {
            self.mutate(groupId) { $0.heartbeat(memberId: memberId, generationId: generationId, groupInstanceId: groupInstanceId, now: Self.now()) }
                ?? (groupId.isEmpty ? .invalidGroupId : .unknownMemberId)
        }
    }

    public func leave(groupId: String, members: [ClassicGroup.LeavingMember]) -> EventLoopFuture<(KafkaErrorCode, [KafkaErrorCode])> {
        eventLoop.submit {
            let settings = self.settings.groups
            guard let (codes, actions) = self.mutate(groupId, { $0.leave(members, settings: settings, now: Self.now()) }) else {
                return (groupId.isEmpty ? .invalidGroupId : .unknownMemberId, members.map { _ in .unknownMemberId })
            }
            self.perform(actions)
            return (.noError, codes)
        }
    }

    // MARK: Offsets

    public struct CommitRequest: Sendable {
        public var memberId: String
        public var generationId: Int32
        public var groupInstanceId: String?
        public var offsets: [TopicPartition: CommittedOffset]
    }

    /// Validates a commit against the group, writes it durably, then applies it. Returns each partition's
    /// error code.
    public func commit(groupId: String, _ request: CommitRequest) -> EventLoopFuture<[TopicPartition: KafkaErrorCode]> {
        eventLoop.flatSubmit {
            func all(_ code: KafkaErrorCode) -> EventLoopFuture<[TopicPartition: KafkaErrorCode]> {
                self.eventLoop.makeSucceededFuture(Dictionary(uniqueKeysWithValues: request.offsets.keys.map { ($0, code) }))
            }
            let now = Self.now()
            let group = self.groups[groupId] ?? ClassicGroup(groupId: groupId, now: now)
            switch group.state {
            case .dead:
                return all(.coordinatorNotAvailable)
            case .empty where request.generationId < 0:
                // A consumer without group management (or an admin client) uses the group to store offsets.
                break
            case .empty:
                return all(request.memberId.isEmpty && request.generationId < 0 ? .noError : .unknownMemberId)
            case .preparingRebalance, .completingRebalance, .stable:
                if let error = group.validateCurrentMember(request.memberId, groupInstanceId: request.groupInstanceId) { return all(error) }
                guard request.generationId == group.generationId else { return all(.illegalGeneration) }
                if group.state == .completingRebalance { return all(.rebalanceInProgress) }
            }
            if self.groups[groupId] == nil { self.groups[groupId] = group }
            var codes: [TopicPartition: KafkaErrorCode] = [:]
            var accepted: [TopicPartition: CommittedOffset] = [:]
            for (partition, committed) in request.offsets {
                if committed.metadata.utf8.count > self.settings.offsetMetadataMaxBytes {
                    codes[partition] = .offsetMetadataTooLarge
                } else if !self.storage.hasPartition(partition) {
                    codes[partition] = .unknownTopicOrPartition
                } else {
                    accepted[partition] = committed
                }
            }
            guard !accepted.isEmpty else { return self.eventLoop.makeSucceededFuture(codes) }
            let records = accepted.map { OffsetsTopicRecord.offset(group: groupId, partition: $0.key, $0.value) }
            let refused = codes
            let written = accepted
            return self.write(records, for: groupId).map {
                self.offsets.apply(group: groupId, written.mapValues { Optional($0) })
                return refused.merging(written.keys.map { ($0, KafkaErrorCode.noError) }) { $1 }
            }.recover { error in
                self.logger.error("writing offsets failed", metadata: ["group": "\(groupId)", "error": "\(error)"])
                return refused.merging(written.keys.map { ($0, KafkaErrorCode.kafkaStorageError) }) { $1 }
            }
        }
    }

    public func committedOffsets(groupId: String) -> [TopicPartition: CommittedOffset] {
        offsets.committed(group: groupId)
    }

    /// Removes committed offsets of a deleted topic.
    public func removeOffsets(ofTopic topic: String) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let doomed = self.offsets.partitions(ofTopic: topic)
            let byGroup = Dictionary(grouping: doomed, by: \.group)
            let writes = byGroup.map { group, entries -> EventLoopFuture<Void> in
                self.write(entries.map { .offset(group: group, partition: $0.partition, nil) }, for: group).map {
                    self.offsets.apply(group: group, Dictionary(uniqueKeysWithValues: entries.map { ($0.partition, CommittedOffset?.none) }))
                }
            }
            return EventLoopFuture.andAllComplete(writes, on: self.eventLoop)
        }
    }

    // MARK: Administration

    public struct GroupDescription: Sendable {
        public var groupId: String
        public var state: ClassicGroup.State
        public var protocolType: String
        public var protocolName: String
        public var members: [ClassicGroup.Member]
        public var exists: Bool
    }

    public func describe(groupIds: [String]) -> EventLoopFuture<[GroupDescription]> {
        eventLoop.submit {
            groupIds.map { groupId in
                guard let group = self.groups[groupId], group.state != .dead else {
                    return GroupDescription(groupId: groupId, state: .dead, protocolType: "", protocolName: "", members: [], exists: false)
                }
                return GroupDescription(groupId: groupId, state: group.state, protocolType: group.protocolType ?? "", protocolName: group.protocolName ?? "",
                                        members: group.orderedMembers, exists: true)
            }
        }
    }

    public func list() -> EventLoopFuture<[(groupId: String, protocolType: String, state: ClassicGroup.State)]> {
        eventLoop.submit {
            self.groups.values.filter { $0.state != .dead }.sorted { $0.groupId < $1.groupId }.map { ($0.groupId, $0.protocolType ?? "", $0.state) }
        }
    }

    public func delete(groupIds: [String]) -> EventLoopFuture<[(String, KafkaErrorCode)]> {
        eventLoop.flatSubmit {
            let now = Self.now()
            let results = groupIds.map { groupId -> EventLoopFuture<(String, KafkaErrorCode)> in
                guard let state = self.groups[groupId]?.state, state != .dead else {
                    return self.eventLoop.makeSucceededFuture((groupId, groupId.isEmpty ? .invalidGroupId : .groupIdNotFound))
                }
                let code = self.mutate(groupId) { $0.markDead(now: now) } ?? .groupIdNotFound
                guard code == .noError else { return self.eventLoop.makeSucceededFuture((groupId, code)) }
                let partitions = Array(self.offsets.committed(group: groupId).keys)
                let records: [OffsetsTopicRecord] = partitions.map { .offset(group: groupId, partition: $0, nil) } + [.group(groupId, nil)]
                return self.write(records, for: groupId).map {
                    _ = self.offsets.removeGroup(groupId)
                    self.groups[groupId] = nil
                    return (groupId, .noError)
                }.recover { _ in (groupId, .kafkaStorageError) }
            }
            return EventLoopFuture.whenAllSucceed(results, on: self.eventLoop)
        }
    }

    /// OffsetDelete: removes offsets of partitions the group does not consume (any, when it is empty).
    public func deleteOffsets(groupId: String, partitions: [TopicPartition]) -> EventLoopFuture<(KafkaErrorCode, [TopicPartition: KafkaErrorCode])> {
        eventLoop.flatSubmit {
            guard let group = self.groups[groupId], group.state != .dead else {
                return self.eventLoop.makeSucceededFuture((groupId.isEmpty ? .invalidGroupId : .groupIdNotFound, [:]))
            }
            if group.state != .empty && group.protocolType != "consumer" {
                return self.eventLoop.makeSucceededFuture((.nonEmptyGroup, [:]))
            }
            let subscribed: Set<String> = group.state == .empty ? [] : Set(group.members.values.flatMap { member in
                ConsumerProtocol.subscribedTopics(member.metadata(for: group.protocolName ?? ""))
            })
            var codes: [TopicPartition: KafkaErrorCode] = [:]
            var doomed: [TopicPartition] = []
            let committed = self.offsets.committed(group: groupId)
            for partition in partitions {
                if subscribed.contains(partition.topic) {
                    codes[partition] = .groupSubscribedToTopic
                } else {
                    codes[partition] = .noError
                    if committed[partition] != nil { doomed.append(partition) }
                }
            }
            guard !doomed.isEmpty else { return self.eventLoop.makeSucceededFuture((.noError, codes)) }
            let answer = codes
            let removed = doomed
            return self.write(removed.map { .offset(group: groupId, partition: $0, nil) }, for: groupId).map {
                self.offsets.apply(group: groupId, Dictionary(uniqueKeysWithValues: removed.map { ($0, CommittedOffset?.none) }))
                return (.noError, answer)
            }.recover { _ in (.kafkaStorageError, answer) }
        }
    }
}

/// Reads the topics out of a consumer's subscription (the "consumer" protocol's metadata: version,
/// topics, user data, ...), which OffsetDelete needs.
enum ConsumerProtocol {
    static func subscribedTopics(_ metadata: ByteBuffer) -> [String] {
        var buffer = metadata
        guard (try? buffer.readKafkaInt16(field: "ConsumerProtocolSubscription.Version")) != nil,
              let count = try? buffer.readKafkaInt32(field: "ConsumerProtocolSubscription.Topics"), count >= 0
        else { return [] }
        var topics: [String] = []
        for _ in 0..<count {
            guard let topic = try? buffer.readKafkaString(compact: false, field: "ConsumerProtocolSubscription.Topic") else { break }
            topics.append(topic)
        }
        return topics
    }
}
