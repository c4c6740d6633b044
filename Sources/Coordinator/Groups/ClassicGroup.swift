public import KafkaProtocol
public import NIOCore

/// Identifies a JoinGroup or SyncGroup request that waits for the group; the driver maps it to its
/// pending response.
public typealias RequestToken = UInt64

/// Settings of the group coordinator (Kafka's `group.*` broker configs).
public struct GroupSettings: Sendable {
    /// `group.min.session.timeout.ms`
    public var minSessionTimeoutMilliseconds: Int32 = 6_000
    /// `group.max.session.timeout.ms`
    public var maxSessionTimeoutMilliseconds: Int32 = 1_800_000
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for more
    /// members, extended by each joining member up to the rebalance timeout.
    public var initialRebalanceDelayMilliseconds: Int64 = 3_000
    /// `group.max.size`
    public var maxSize: Int = Int(Int32.max)

    public init() {}
}

public struct JoinResult: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var metadata: ByteBuffer
    }

    public var errorCode: KafkaErrorCode
    public var generationId: Int32 = -1
    public var protocolType: String? = nil
    public var protocolName: String? = nil
    public var leaderId: String = ""
    public var memberId: String = ""
    /// Every member's metadata for the chosen protocol, for the leader only.
    public var members: [Member] = []
    /// A static leader that rejoined a stable group keeps the assignment (JoinGroup v9+).
    public var skipAssignment = false

    public static func failure(_ code: KafkaErrorCode, memberId: String = "") -> JoinResult {
        JoinResult(errorCode: code, memberId: memberId)
    }
}

public struct SyncResult: Sendable, Equatable {
    public var errorCode: KafkaErrorCode
    public var protocolType: String? = nil
    public var protocolName: String? = nil
    public var assignment = ByteBuffer()

    public static func failure(_ code: KafkaErrorCode) -> SyncResult { SyncResult(errorCode: code) }
}

/// What the driver must do after an event.
public enum GroupAction: Sendable, Equatable {
    case completeJoin(RequestToken, JoinResult)
    case completeSync(RequestToken, SyncResult)
    /// The group's generation, members or state changed: write its metadata record.
    case persist(groupId: String)
}

/// One consumer group under the classic protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), as Apache
/// Kafka runs it: Empty → PreparingRebalance → CompletingRebalance → Stable, with member ids assigned by
/// the coordinator (MEMBER_ID_REQUIRED from JoinGroup v4), static membership by group.instance.id, an
/// initial rebalance delay for new groups, session and rebalance timeouts. Time is passed in; nothing here
/// does I/O.
public struct ClassicGroup: Sendable {
    public enum State: String, Sendable, CaseIterable {
        case empty = "Empty"
        case preparingRebalance = "PreparingRebalance"
        case completingRebalance = "CompletingRebalance"
        case stable = "Stable"
        case dead = "Dead"
    }

    public struct SupportedProtocol: Sendable, Equatable {
        public var name: String
        public var metadata: ByteBuffer

        public init(name: String, metadata: ByteBuffer) {
            self.name = name
            self.metadata = metadata
        }
    }

    public struct Member: Sendable, Equatable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var rebalanceTimeoutMilliseconds: Int32
        public var sessionTimeoutMilliseconds: Int32
        public var protocolType: String
        public var protocols: [SupportedProtocol]
        public var assignment: ByteBuffer = ByteBuffer()
        /// A JoinGroup waiting for the rebalance to complete.
        public var pendingJoin: RequestToken? = nil
        /// A SyncGroup waiting for the leader's assignment.
        public var pendingSync: RequestToken? = nil
        /// Whether the member sent SyncGroup in the current generation.
        public var hasSynced = false
        public var sessionDeadline: Int64

        public init(
            memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, rebalanceTimeoutMilliseconds: Int32,
            sessionTimeoutMilliseconds: Int32, protocolType: String, protocols: [SupportedProtocol], assignment: ByteBuffer = ByteBuffer(),
            pendingJoin: RequestToken? = nil, sessionDeadline: Int64
        ) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.rebalanceTimeoutMilliseconds = rebalanceTimeoutMilliseconds
            self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
            self.protocolType = protocolType
            self.protocols = protocols
            self.assignment = assignment
            self.pendingJoin = pendingJoin
            self.sessionDeadline = sessionDeadline
        }

        public func metadata(for protocolName: String) -> ByteBuffer {
            protocols.first { $0.name == protocolName }?.metadata ?? ByteBuffer()
        }
    }

    public let groupId: String
    public private(set) var state: State = .empty
    public private(set) var protocolType: String? = nil
    public private(set) var protocolName: String? = nil
    public private(set) var generationId: Int32 = 0
    public private(set) var leaderId: String? = nil
    public private(set) var members: [String: Member] = [:]
    /// Join order: the leader is the earliest member still present.
    public private(set) var memberOrder: [String] = []
    public private(set) var staticMembers: [String: String] = [:]
    /// Member ids handed out with MEMBER_ID_REQUIRED, with when they expire if never used.
    public private(set) var pendingMembers: [String: Int64] = [:]
    /// When the current PreparingRebalance completes even without every member.
    public private(set) var rebalanceDeadline: Int64? = nil
    /// While set, a new group's first rebalance waits for more members (initial delay).
    public private(set) var initialDelayDeadline: Int64? = nil
    /// When members that have not sent SyncGroup in CompletingRebalance are removed.
    public private(set) var syncDeadline: Int64? = nil
    /// When the group entered its current state (group metadata's currentStateTimestamp).
    public private(set) var stateTimestamp: Int64

    public init(groupId: String, now: Int64) {
        self.groupId = groupId
        self.stateTimestamp = now
    }

    public var isEmpty: Bool { members.isEmpty }

    public func member(_ memberId: String) -> Member? { members[memberId] }

    public var orderedMembers: [Member] { memberOrder.compactMap { members[$0] } }

    /// Whether every member's protocols include one of `protocols` of type `type`.
    func acceptsProtocols(type: String, _ protocols: [SupportedProtocol]) -> Bool {
        guard !type.isEmpty, !protocols.isEmpty else { return false }
        if members.isEmpty { return true }
        guard type == protocolType else { return false }
        let names = Set(protocols.map(\.name))
        return !candidateProtocols().isDisjoint(with: names)
    }

    /// Protocols every current member supports.
    func candidateProtocols() -> Set<String> {
        var candidates: Set<String>? = nil
        for member in members.values {
            let names = Set(member.protocols.map(\.name))
            candidates = candidates.map { $0.intersection(names) } ?? names
        }
        return candidates ?? []
    }

    /// Each member votes for its most preferred candidate; the most votes wins (ties by the leader's order).
    func selectProtocol() -> String? {
        let candidates = candidateProtocols()
        var votes: [String: Int] = [:]
        for member in members.values {
            if let choice = member.protocols.first(where: { candidates.contains($0.name) }) {
                votes[choice.name, default: 0] += 1
            }
        }
        var best: String? = nil
        var bestVotes = -1
        for name in orderedMembers.first?.protocols.map(\.name) ?? [] where candidates.contains(name) {
            let count = votes[name] ?? 0
            if count > bestVotes {
                best = name
                bestVotes = count
            }
        }
        return best
    }

    static func generateMemberId(clientId: String, groupInstanceId: String?) -> String {
        // Kafka's form (`<client id or instance id>-<uuid>`), with the prefix bounded so the id stays storable.
        String(decoding: Array((groupInstanceId ?? clientId).utf8.prefix(1024)), as: UTF8.self) + "-" + KafkaUUID.random().uuidText
    }

    // MARK: JoinGroup

    public struct JoinRequest: Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var rebalanceTimeoutMilliseconds: Int32
        public var sessionTimeoutMilliseconds: Int32
        public var protocolType: String
        public var protocols: [SupportedProtocol]
        /// JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED with its id.
        public var requireKnownMemberId: Bool
        public var supportsSkipAssignment: Bool

        public init(memberId: String, groupInstanceId: String?, clientId: String, clientHost: String, rebalanceTimeoutMilliseconds: Int32,
                    sessionTimeoutMilliseconds: Int32, protocolType: String, protocols: [SupportedProtocol], requireKnownMemberId: Bool, supportsSkipAssignment: Bool) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.rebalanceTimeoutMilliseconds = rebalanceTimeoutMilliseconds
            self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
            self.protocolType = protocolType
            self.protocols = protocols
            self.requireKnownMemberId = requireKnownMemberId
            self.supportsSkipAssignment = supportsSkipAssignment
        }
    }

    /// Kafka's check of a request from a member that claims an id: a static member is judged by its
    /// instance id first, so a member whose instance was taken over is told it is fenced
    /// (FENCED_INSTANCE_ID), not that it is unknown; a dynamic member must be in the group.
    public func validateCurrentMember(_ memberId: String, groupInstanceId: String?) -> KafkaErrorCode? {
        if let groupInstanceId {
            guard let current = staticMembers[groupInstanceId] else { return .unknownMemberId }
            return current == memberId ? nil : .fencedInstanceId
        }
        return members[memberId] == nil ? .unknownMemberId : nil
    }

    public mutating func join(_ request: JoinRequest, token: RequestToken, settings: GroupSettings, now: Int64) -> [GroupAction] {
        func fail(_ code: KafkaErrorCode) -> [GroupAction] {
            [.completeJoin(token, .failure(code, memberId: request.memberId))]
        }
        guard request.sessionTimeoutMilliseconds >= settings.minSessionTimeoutMilliseconds,
              request.sessionTimeoutMilliseconds <= settings.maxSessionTimeoutMilliseconds
        else { return fail(.invalidSessionTimeout) }
        if state == .dead { return fail(.coordinatorNotAvailable) }
        guard acceptsProtocols(type: request.protocolType, request.protocols) else { return fail(.inconsistentGroupProtocol) }

        if request.memberId.isEmpty {
            if let instance = request.groupInstanceId {
                if let previous = staticMembers[instance] {
                    return rejoinStatic(request, replacing: previous, token: token, settings: settings, now: now)
                }
                guard members.count < settings.maxSize else { return fail(.groupMaxSizeReached) }
                let memberId = Self.generateMemberId(clientId: request.clientId, groupInstanceId: instance)
                return addMember(request, memberId: memberId, token: token, settings: settings, now: now)
            }
            guard members.count + pendingMembers.count < settings.maxSize else { return fail(.groupMaxSizeReached) }
            let memberId = Self.generateMemberId(clientId: request.clientId, groupInstanceId: nil)
            if request.requireKnownMemberId {
                pendingMembers[memberId] = now + Int64(request.sessionTimeoutMilliseconds)
                return [.completeJoin(token, .failure(.memberIdRequired, memberId: memberId))]
            }
            return addMember(request, memberId: memberId, token: token, settings: settings, now: now)
        }

        if pendingMembers.removeValue(forKey: request.memberId) != nil {
            return addMember(request, memberId: request.memberId, token: token, settings: settings, now: now)
        }
        if let error = validateCurrentMember(request.memberId, groupInstanceId: request.groupInstanceId) { return fail(error) }
        guard var member = members[request.memberId] else { return fail(.unknownMemberId) }
        let protocolsChanged = member.protocols != request.protocols
        member.protocols = request.protocols
        member.clientId = request.clientId
        member.clientHost = request.clientHost
        member.rebalanceTimeoutMilliseconds = request.rebalanceTimeoutMilliseconds
        member.sessionTimeoutMilliseconds = request.sessionTimeoutMilliseconds
        member.sessionDeadline = now + Int64(request.sessionTimeoutMilliseconds)
        var actions: [GroupAction] = []
        if let previous = member.pendingJoin {
            // A retried JoinGroup replaces the one still waiting; the old request gets an error.
            actions.append(.completeJoin(previous, .failure(.unknownMemberId, memberId: request.memberId)))
            member.pendingJoin = nil
        }
        members[request.memberId] = member
        switch state {
        case .preparingRebalance:
            members[request.memberId]!.pendingJoin = token
            return actions + maybeCompleteJoin(now: now)
        case .completingRebalance where !protocolsChanged, .stable where !protocolsChanged && leaderId != request.memberId:
            // The member lost our answer: give it the current generation again.
            return actions + [.completeJoin(token, currentGenerationResult(for: request.memberId))]
        case .completingRebalance, .stable:
            members[request.memberId]!.pendingJoin = token
            return actions + prepareRebalance(settings: settings, now: now)
        case .empty, .dead:
            return actions + fail(.unknownMemberId)
        }
    }

    private mutating func addMember(_ request: JoinRequest, memberId: String, token: RequestToken, settings: GroupSettings, now: Int64) -> [GroupAction] {
        if members.isEmpty { protocolType = request.protocolType }
        members[memberId] = Member(
            memberId: memberId, groupInstanceId: request.groupInstanceId, clientId: request.clientId, clientHost: request.clientHost,
            rebalanceTimeoutMilliseconds: request.rebalanceTimeoutMilliseconds, sessionTimeoutMilliseconds: request.sessionTimeoutMilliseconds,
            protocolType: request.protocolType, protocols: request.protocols, pendingJoin: token,
            sessionDeadline: now + Int64(request.sessionTimeoutMilliseconds))
        memberOrder.append(memberId)
        if let instance = request.groupInstanceId { staticMembers[instance] = memberId }
        if state == .preparingRebalance {
            if let initial = initialDelayDeadline, let deadline = rebalanceDeadline {
                // A new group keeps waiting a little longer for each member that arrives.
                initialDelayDeadline = min(max(initial, now + settings.initialRebalanceDelayMilliseconds), deadline)
            }
            return maybeCompleteJoin(now: now)
        }
        return prepareRebalance(settings: settings, now: now)
    }

    /// A static member came back with a new connection (empty member id, known instance id).
    private mutating func rejoinStatic(_ request: JoinRequest, replacing oldMemberId: String, token: RequestToken, settings: GroupSettings, now: Int64) -> [GroupAction] {
        guard var member = members.removeValue(forKey: oldMemberId) else {
            staticMembers[request.groupInstanceId!] = nil
            return addMember(request, memberId: Self.generateMemberId(clientId: request.clientId, groupInstanceId: request.groupInstanceId), token: token, settings: settings, now: now)
        }
        var actions: [GroupAction] = []
        // The old connection is fenced: anything it still waits for fails.
        if let pending = member.pendingJoin { actions.append(.completeJoin(pending, .failure(.fencedInstanceId, memberId: oldMemberId))) }
        if let pending = member.pendingSync { actions.append(.completeSync(pending, .failure(.fencedInstanceId))) }
        member.pendingJoin = nil
        member.pendingSync = nil
        let newMemberId = Self.generateMemberId(clientId: request.clientId, groupInstanceId: request.groupInstanceId)
        let protocolsChanged = member.protocols != request.protocols
        member.memberId = newMemberId
        member.clientId = request.clientId
        member.clientHost = request.clientHost
        member.protocols = request.protocols
        member.rebalanceTimeoutMilliseconds = request.rebalanceTimeoutMilliseconds
        member.sessionTimeoutMilliseconds = request.sessionTimeoutMilliseconds
        member.sessionDeadline = now + Int64(request.sessionTimeoutMilliseconds)
        members[newMemberId] = member
        if let index = memberOrder.firstIndex(of: oldMemberId) { memberOrder[index] = newMemberId }
        staticMembers[request.groupInstanceId!] = newMemberId
        let wasLeader = leaderId == oldMemberId
        if wasLeader { leaderId = newMemberId }
        switch state {
        case .stable where !protocolsChanged:
            // KIP-345: the member gets its place back without a rebalance of the others.
            var result = currentGenerationResult(for: newMemberId)
            if wasLeader && request.supportsSkipAssignment {
                result.members = memberResults()
                result.skipAssignment = true
            }
            members[newMemberId]!.hasSynced = false
            return actions + [.completeJoin(token, result), .persist(groupId: groupId)]
        case .preparingRebalance:
            members[newMemberId]!.pendingJoin = token
            return actions + maybeCompleteJoin(now: now)
        default:
            members[newMemberId]!.pendingJoin = token
            return actions + prepareRebalance(settings: settings, now: now)
        }
    }

    private func currentGenerationResult(for memberId: String) -> JoinResult {
        JoinResult(errorCode: .noError, generationId: generationId, protocolType: protocolType, protocolName: protocolName,
                   leaderId: leaderId ?? "", memberId: memberId, members: memberId == leaderId ? memberResults() : [])
    }

    private func memberResults() -> [JoinResult.Member] {
        orderedMembers.map { JoinResult.Member(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, metadata: $0.metadata(for: protocolName ?? "")) }
    }

    /// Enters PreparingRebalance: every member must rejoin. Waiting SyncGroups learn of it.
    private mutating func prepareRebalance(settings: GroupSettings, now: Int64) -> [GroupAction] {
        var actions: [GroupAction] = []
        if state == .completingRebalance {
            for (memberId, member) in members {
                if let pending = member.pendingSync {
                    actions.append(.completeSync(pending, .failure(.rebalanceInProgress)))
                    members[memberId]!.pendingSync = nil
                }
            }
        }
        let wasEmpty = state == .empty
        for memberId in members.keys { members[memberId]!.assignment = ByteBuffer() }
        let timeout = Int64(members.values.map(\.rebalanceTimeoutMilliseconds).max() ?? 0)
        rebalanceDeadline = now + max(timeout, 0)
        initialDelayDeadline = wasEmpty ? min(now + settings.initialRebalanceDelayMilliseconds, rebalanceDeadline!) : nil
        syncDeadline = nil
        transition(to: .preparingRebalance, now: now)
        return actions + maybeCompleteJoin(now: now)
    }

    /// Completes the join phase once every member has rejoined (and a new group's initial delay passed),
    /// or when `force` (the rebalance timeout expired: members that did not rejoin are removed).
    private mutating func maybeCompleteJoin(now: Int64, force: Bool = false) -> [GroupAction] {
        guard state == .preparingRebalance else { return [] }
        let everyoneJoined = members.values.allSatisfy { $0.pendingJoin != nil }
        if !force {
            guard everyoneJoined else { return [] }
            if let initial = initialDelayDeadline, now < initial { return [] }
        }
        for member in members.values where member.pendingJoin == nil {
            removeMember(member.memberId)
        }
        initialDelayDeadline = nil
        rebalanceDeadline = nil
        generationId = generationId == Int32.max ? 1 : generationId + 1
        if members.isEmpty {
            protocolName = nil
            leaderId = nil
            transition(to: .empty, now: now)
            return [.persist(groupId: groupId)]
        }
        protocolName = selectProtocol()
        if leaderId == nil || members[leaderId!] == nil { leaderId = memberOrder.first }
        transition(to: .completingRebalance, now: now)
        syncDeadline = now + Int64(members.values.map(\.rebalanceTimeoutMilliseconds).max() ?? 0)
        var actions: [GroupAction] = []
        let all = memberResults()
        for memberId in memberOrder {
            guard let token = members[memberId]?.pendingJoin else { continue }
            members[memberId]!.pendingJoin = nil
            members[memberId]!.hasSynced = false
            members[memberId]!.sessionDeadline = now + Int64(members[memberId]!.sessionTimeoutMilliseconds)
            actions.append(.completeJoin(token, JoinResult(
                errorCode: .noError, generationId: generationId, protocolType: protocolType, protocolName: protocolName,
                leaderId: leaderId!, memberId: memberId, members: memberId == leaderId ? all : [])))
        }
        return actions
    }

    private mutating func removeMember(_ memberId: String) {
        guard let member = members.removeValue(forKey: memberId) else { return }
        memberOrder.removeAll { $0 == memberId }
        if let instance = member.groupInstanceId, staticMembers[instance] == memberId { staticMembers[instance] = nil }
        if leaderId == memberId { leaderId = nil }
    }

    private mutating func transition(to newState: State, now: Int64) {
        state = newState
        stateTimestamp = now
    }

    // MARK: SyncGroup

    public mutating func sync(
        memberId: String, generationId requestGeneration: Int32, groupInstanceId: String?, protocolType requestProtocolType: String?,
        protocolName requestProtocolName: String?, assignments: [String: ByteBuffer], token: RequestToken, now: Int64
    ) -> [GroupAction] {
        func fail(_ code: KafkaErrorCode) -> [GroupAction] { [.completeSync(token, .failure(code))] }
        if state == .dead { return fail(.coordinatorNotAvailable) }
        if let error = validateCurrentMember(memberId, groupInstanceId: groupInstanceId) { return fail(error) }
        guard var member = members[memberId] else { return fail(.unknownMemberId) }
        guard requestGeneration == generationId else { return fail(.illegalGeneration) }
        if let requestProtocolType, requestProtocolType != protocolType { return fail(.inconsistentGroupProtocol) }
        if let requestProtocolName, requestProtocolName != protocolName { return fail(.inconsistentGroupProtocol) }
        member.sessionDeadline = now + Int64(member.sessionTimeoutMilliseconds)
        member.hasSynced = true
        switch state {
        case .preparingRebalance:
            members[memberId] = member
            return fail(.rebalanceInProgress)
        case .stable:
            members[memberId] = member
            return [.completeSync(token, SyncResult(errorCode: .noError, protocolType: protocolType, protocolName: protocolName, assignment: member.assignment))]
        case .completingRebalance:
            if let previous = member.pendingSync {
                member.pendingSync = nil
                members[memberId] = member
                return [.completeSync(previous, .failure(.unknownMemberId))] + sync(
                    memberId: memberId, generationId: requestGeneration, groupInstanceId: groupInstanceId, protocolType: requestProtocolType,
                    protocolName: requestProtocolName, assignments: assignments, token: token, now: now)
            }
            member.pendingSync = token
            members[memberId] = member
            guard memberId == leaderId else { return [] }
            // The leader's assignment completes the rebalance.
            for id in members.keys { members[id]!.assignment = assignments[id] ?? ByteBuffer() }
            syncDeadline = nil
            transition(to: .stable, now: now)
            var actions: [GroupAction] = []
            for id in memberOrder {
                guard let pending = members[id]?.pendingSync else { continue }
                members[id]!.pendingSync = nil
                actions.append(.completeSync(pending, SyncResult(errorCode: .noError, protocolType: protocolType, protocolName: protocolName, assignment: members[id]!.assignment)))
            }
            return actions + [.persist(groupId: groupId)]
        case .empty, .dead:
            return fail(.unknownMemberId)
        }
    }

    // MARK: Heartbeat and LeaveGroup

    public mutating func heartbeat(memberId: String, generationId requestGeneration: Int32, groupInstanceId: String?, now: Int64) -> KafkaErrorCode {
        if state == .dead { return .coordinatorNotAvailable }
        if let error = validateCurrentMember(memberId, groupInstanceId: groupInstanceId) { return error }
        guard var member = members[memberId] else { return .unknownMemberId }
        guard requestGeneration == generationId else { return .illegalGeneration }
        member.sessionDeadline = now + Int64(member.sessionTimeoutMilliseconds)
        members[memberId] = member
        switch state {
        case .preparingRebalance: return .rebalanceInProgress
        case .completingRebalance, .stable: return .noError
        case .empty, .dead: return .unknownMemberId
        }
    }

    public struct LeavingMember: Sendable {
        public var memberId: String
        public var groupInstanceId: String?

        public init(memberId: String, groupInstanceId: String?) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
        }
    }

    /// Removes members (LeaveGroup); returns each one's error code and the actions.
    public mutating func leave(_ leaving: [LeavingMember], settings: GroupSettings, now: Int64) -> (codes: [KafkaErrorCode], actions: [GroupAction]) {
        var codes: [KafkaErrorCode] = []
        var removed = false
        var actions: [GroupAction] = []
        for departing in leaving {
            var memberId = departing.memberId
            if let instance = departing.groupInstanceId {
                guard let current = staticMembers[instance] else {
                    codes.append(.unknownMemberId)
                    continue
                }
                if !memberId.isEmpty && memberId != current {
                    codes.append(.fencedInstanceId)
                    continue
                }
                memberId = current
            }
            if pendingMembers.removeValue(forKey: memberId) != nil {
                codes.append(.noError)
                continue
            }
            guard let member = members[memberId] else {
                codes.append(.unknownMemberId)
                continue
            }
            if let pending = member.pendingJoin { actions.append(.completeJoin(pending, .failure(.unknownMemberId, memberId: memberId))) }
            if let pending = member.pendingSync { actions.append(.completeSync(pending, .failure(.unknownMemberId))) }
            removeMember(memberId)
            removed = true
            codes.append(.noError)
        }
        if removed { actions += membershipChanged(settings: settings, now: now) }
        return (codes, actions)
    }

    /// After members left or expired: rebalance, or finish a rebalance that only waited for them.
    private mutating func membershipChanged(settings: GroupSettings, now: Int64) -> [GroupAction] {
        switch state {
        case .stable, .completingRebalance:
            if members.isEmpty {
                generationId = generationId == Int32.max ? 1 : generationId + 1
                protocolName = nil
                leaderId = nil
                transition(to: .empty, now: now)
                return [.persist(groupId: groupId)]
            }
            return prepareRebalance(settings: settings, now: now)
        case .preparingRebalance:
            return maybeCompleteJoin(now: now)
        case .empty, .dead:
            return []
        }
    }

    // MARK: Time

    /// The earliest time `tick` has work, if any.
    /// Computed without allocating: the coordinator's timer asks every group ten times a second.
    public var nextDeadline: Int64? {
        var earliest = Int64.max
        for deadline in pendingMembers.values { earliest = min(earliest, deadline) }
        if let rebalanceDeadline { earliest = min(earliest, rebalanceDeadline) }
        if let initialDelayDeadline { earliest = min(earliest, initialDelayDeadline) }
        if let syncDeadline { earliest = min(earliest, syncDeadline) }
        for member in members.values where member.pendingJoin == nil && member.pendingSync == nil {
            earliest = min(earliest, member.sessionDeadline)
        }
        return earliest == Int64.max ? nil : earliest
    }

    /// Applies timeouts due at `now`: expired sessions, unused pending member ids, the end of an initial
    /// delay or rebalance timeout, members that never sent SyncGroup.
    public mutating func tick(settings: GroupSettings, now: Int64) -> [GroupAction] {
        pendingMembers = pendingMembers.filter { $0.value > now }
        var actions: [GroupAction] = []
        // A member waiting in JoinGroup or SyncGroup is alive; only silent members expire.
        let expired = members.values.filter { $0.pendingJoin == nil && $0.pendingSync == nil && $0.sessionDeadline <= now }.map(\.memberId)
        if !expired.isEmpty {
            for memberId in expired { removeMember(memberId) }
            actions += membershipChanged(settings: settings, now: now)
        }
        if state == .preparingRebalance {
            if let deadline = rebalanceDeadline, now >= deadline {
                actions += maybeCompleteJoin(now: now, force: true)
            } else if let initial = initialDelayDeadline, now >= initial {
                initialDelayDeadline = nil
                actions += maybeCompleteJoin(now: now)
            }
        }
        if state == .completingRebalance, let deadline = syncDeadline, now >= deadline {
            // KIP-814: members that did not sync in time are removed and the group rebalances.
            let laggards = members.values.filter { !$0.hasSynced }.map(\.memberId)
            syncDeadline = nil
            if !laggards.isEmpty {
                for memberId in laggards {
                    if let pending = members[memberId]?.pendingSync { actions.append(.completeSync(pending, .failure(.rebalanceInProgress))) }
                    removeMember(memberId)
                }
                actions += membershipChanged(settings: settings, now: now)
            }
        }
        return actions
    }

    // MARK: Lifecycle

    /// DeleteGroups: only an empty group can go.
    public mutating func markDead(now: Int64) -> KafkaErrorCode {
        guard state == .empty else { return .nonEmptyGroup }
        transition(to: .dead, now: now)
        return .noError
    }

    /// Restores a group from its metadata record (after a restart). Members get a fresh session.
    public static func restored(
        groupId: String, protocolType: String?, generationId: Int32, protocolName: String?, leaderId: String?,
        stateTimestamp: Int64, members restoredMembers: [Member], now: Int64
    ) -> ClassicGroup {
        var group = ClassicGroup(groupId: groupId, now: now)
        group.protocolType = protocolType
        group.generationId = generationId
        group.protocolName = protocolName
        group.stateTimestamp = stateTimestamp
        for var member in restoredMembers {
            member.sessionDeadline = now + Int64(member.sessionTimeoutMilliseconds)
            member.hasSynced = true
            group.members[member.memberId] = member
            group.memberOrder.append(member.memberId)
            if let instance = member.groupInstanceId { group.staticMembers[instance] = member.memberId }
        }
        group.leaderId = group.members[leaderId ?? ""] != nil ? leaderId : group.memberOrder.first
        group.state = group.members.isEmpty ? .empty : .stable
        return group
    }
}

extension KafkaUUID {
    /// The hyphenated hex form, as Java's `UUID.toString` prints it (Kafka's member ids use this).
    public var uuidText: String {
        let hex = bytes.map { byte -> String in
            let text = String(byte, radix: 16)
            return text.count == 1 ? "0" + text : text
        }.joined()
        let characters = Array(hex)
        return String(characters[0..<8]) + "-" + String(characters[8..<12]) + "-" + String(characters[12..<16]) + "-" + String(characters[16..<20]) + "-" + String(characters[20..<32])
    }
}
