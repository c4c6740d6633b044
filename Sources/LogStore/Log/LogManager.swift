#if canImport(Glibc)
import Glibc
#endif
public import KafkaProtocol
public import Logging
import NIOConcurrencyHelpers
import NIOCore
public import NIOPosix

/// The partition logs under one data directory, with Kafka's layout: `topic-N/` directories of segments,
/// plus `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and `.kafka_cleanshutdown`.
///
/// Sendable: `logs` and the checkpoint state are guarded by `lock`; the logs guard themselves.
public final class LogManager: @unchecked Sendable {
    public static let cleanShutdownMarker = ".kafka_cleanshutdown"
    public static let recoveryCheckpointFile = "recovery-point-offset-checkpoint"
    public static let logStartCheckpointFile = "log-start-offset-checkpoint"
    static let lockFile = ".lock"

    public let dataDirectory: String
    public let threadPool: NIOThreadPool
    let logger: Logger
    let clock: @Sendable () -> Int64

    private let lock = NIOLock()
    private var logs: [TopicPartition: SegmentedLog] = [:]
    private var lockDescriptor: Int32 = -1
    /// Whether the previous run ended with a clean shutdown (decided once, at `start`).
    public private(set) var previousShutdownWasClean = false
    private var recoveryPoints: [TopicPartition: Int64] = [:]
    private var logStartOffsets: [TopicPartition: Int64] = [:]
    private var checkpointedLogStarts: [TopicPartition: Int64] = [:]

    public init(dataDirectory: String, threadPool: NIOThreadPool, logger: Logger, clock: @escaping @Sendable () -> Int64 = LogManager.wallClockMilliseconds) {
        self.dataDirectory = dataDirectory
        self.threadPool = threadPool
        self.logger = logger
        self.clock = clock
    }

    public static let wallClockMilliseconds: @Sendable () -> Int64 = {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// Takes the directory lock, reads the checkpoints and the clean-shutdown marker, and removes the
    /// marker (a crash from now on is an unclean shutdown).
    public func start() throws(StorageError) {
        try FileSystem.createDirectory(dataDirectory)
        let lockPath = dataDirectory + "/" + Self.lockFile
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError(operation: "open", path: lockPath, errorNumber: errno) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            close(descriptor)
            throw StorageError(operation: "lock (is another tributary using this data directory?)", path: lockPath, errorNumber: error)
        }
        lock.withLock { lockDescriptor = descriptor }
        let markerPath = dataDirectory + "/" + Self.cleanShutdownMarker
        let clean = FileSystem.exists(markerPath)
        let recovery = try Self.readCheckpoint(dataDirectory + "/" + Self.recoveryCheckpointFile)
        let starts = try Self.readCheckpoint(dataDirectory + "/" + Self.logStartCheckpointFile)
        lock.withLock {
            previousShutdownWasClean = clean
            recoveryPoints = recovery
            logStartOffsets = starts
            checkpointedLogStarts = starts
        }
        if clean {
            try FileSystem.remove(markerPath)
            try FileSystem.synchronizeDirectory(dataDirectory)
        }
        logger.info("log manager started", metadata: [
            "dataDirectory": "\(dataDirectory)", "previousShutdown": "\(clean ? "clean" : "unclean or first start")",
        ])
    }

    /// The partition directories present on disk.
    public func partitionDirectoriesOnDisk() throws(StorageError) -> [TopicPartition] {
        try FileSystem.contentsOfDirectory(dataDirectory).compactMap { name in
            guard FileSystem.isDirectory(dataDirectory + "/" + name), !name.hasSuffix("-delete") else { return nil }
            return TopicPartition(directoryName: name)
        }
    }

    public func log(for topicPartition: TopicPartition) -> SegmentedLog? {
        lock.withLock { logs[topicPartition] }
    }

    public var allLogs: [SegmentedLog] {
        lock.withLock { Array(logs.values) }
    }

    /// Opens (or creates) the logs of many partitions in parallel on the thread pool, recovering those that
    /// need it. Reports what recovery cut.
    public func openAll(_ partitions: [(TopicPartition, LogConfig, KafkaUUID?)]) async throws(StorageError) -> [PartitionRecoveryReport] {
        let results: [Result<PartitionRecoveryReport?, StorageError>] = await withTaskGroup(of: (Int, Result<PartitionRecoveryReport?, StorageError>).self) { group in
            // Bounded parallelism: enough to overlap I/O, not so much that recovery thrashes.
            let width = 4
            var next = 0
            var collected = [Result<PartitionRecoveryReport?, StorageError>?](repeating: nil, count: partitions.count)
            func submit(_ index: Int) {
                let (partition, config, topicId) = partitions[index]
                group.addTask {
                    let result: Result<PartitionRecoveryReport?, StorageError> = await withCheckedContinuation { continuation in
                        self.threadPool.submit { _ in
                            continuation.resume(returning: Result { () throws(StorageError) -> PartitionRecoveryReport? in
                                try self.openLog(partition, config: config, topicId: topicId).report
                            })
                        }
                    }
                    return (index, result)
                }
            }
            while next < min(width, partitions.count) {
                submit(next)
                next += 1
            }
            for await (index, result) in group {
                collected[index] = result
                if next < partitions.count {
                    submit(next)
                    next += 1
                }
            }
            return collected.map { $0! }
        }
        var reports: [PartitionRecoveryReport] = []
        for result in results {
            if let report = try result.get() { reports.append(report) }
        }
        return reports
    }

    /// Opens or creates one partition log (blocking I/O). Returns the log and, when recovery verified,
    /// cut or found anything, its report.
    @discardableResult
    public func openLog(_ topicPartition: TopicPartition, config: LogConfig, topicId: KafkaUUID? = nil) throws(StorageError) -> (log: SegmentedLog, report: PartitionRecoveryReport?) {
        if let existing = log(for: topicPartition) { return (existing, nil) }
        let directory = dataDirectory + "/" + topicPartition.directoryName
        let existedBefore = FileSystem.isDirectory(directory)
        try FileSystem.createDirectory(directory)
        if !existedBefore { try FileSystem.synchronizeDirectory(dataDirectory) }
        if let topicId {
            try Self.writePartitionMetadata(directory: directory, topicId: topicId)
        }
        let (clean, checkpointedEnd, logStart) = lock.withLock {
            (previousShutdownWasClean, recoveryPoints[topicPartition], logStartOffsets[topicPartition] ?? 0)
        }
        try Self.completeInterruptedSwaps(directory: directory)
        let (segments, report) = try LogRecovery.openSegments(
            topicPartition: topicPartition, directory: directory, config: config, clean: clean, checkpointedEnd: checkpointedEnd,
            logStartOffset: logStart, nowMilliseconds: clock(), logger: logger)
        let log = SegmentedLog(
            topicPartition: topicPartition, directory: directory, config: config, segments: segments,
            logStartOffset: logStart, threadPool: threadPool, logger: logger, clock: clock
        )
        lock.withLock { logs[topicPartition] = log }
        return (log, report)
    }

    /// Closes and removes a partition's log and directory (topic deletion). The directory is renamed first
    /// so that a crash midway leaves a `-delete` directory, removed at the next start, not a half log.
    public func deleteLog(_ topicPartition: TopicPartition) throws(StorageError) {
        if let retired = try retireLog(topicPartition) { try FileSystem.removeTree(retired) }
    }

    /// The first step of deleting a partition: closes its log and renames its directory to
    /// `<name>.<random>-delete`, durably. From then on the data is garbage by proof: the next start removes
    /// it. Returns the renamed directory's path (nil when there was no directory).
    public func retireLog(_ topicPartition: TopicPartition) throws(StorageError) -> String? {
        let log = lock.withLock { logs.removeValue(forKey: topicPartition) }
        if let log {
            do {
                try log.close()
            } catch {
                logger.warning("closing a log before its deletion failed", metadata: ["partition": "\(topicPartition)", "error": "\(error)"])
            }
        }
        lock.withLock {
            recoveryPoints[topicPartition] = nil
            logStartOffsets[topicPartition] = nil
        }
        let directory = dataDirectory + "/" + topicPartition.directoryName
        guard FileSystem.isDirectory(directory) else { return nil }
        let doomed = directory + "." + KafkaUUID.random().description + "-delete"
        try FileSystem.rename(directory, to: doomed)
        try FileSystem.synchronizeDirectory(dataDirectory)
        return doomed
    }

    /// Undoes `retireLog` (the deletion could not be recorded): the directory gets its name back; the caller
    /// opens the log again.
    public func unretire(_ retiredPath: String, as topicPartition: TopicPartition) throws(StorageError) {
        try FileSystem.rename(retiredPath, to: dataDirectory + "/" + topicPartition.directoryName)
        try FileSystem.synchronizeDirectory(dataDirectory)
    }

    /// Removes directories left by interrupted deletions.
    public func removeLeftoverDeletions() throws(StorageError) {
        for name in try FileSystem.contentsOfDirectory(dataDirectory) where name.hasSuffix("-delete") {
            let path = dataDirectory + "/" + name
            if FileSystem.isDirectory(path) {
                logger.info("removing a partition directory left by an interrupted deletion", metadata: ["directory": "\(name)"])
                try FileSystem.removeTree(path)
            }
        }
    }

    /// Records a moved log start offset durably (after DeleteRecords), so that a restart does not bring
    /// deleted records back.
    public func checkpointLogStartOffsets() throws(StorageError) {
        let (entries, changed): ([TopicPartition: Int64], Bool) = lock.withLock {
            // Partitions not open (yet) keep the entry they had: a checkpoint never forgets a partition
            // that still has a directory.
            var entries = logStartOffsets
            for (partition, log) in logs {
                let start = log.offsets.logStartOffset
                entries[partition] = start > 0 ? start : nil
            }
            let changed = entries != checkpointedLogStarts
            logStartOffsets = entries
            return (entries, changed)
        }
        guard changed else { return }
        try Self.writeCheckpoint(entries, to: dataDirectory + "/" + Self.logStartCheckpointFile)
        lock.withLock { checkpointedLogStarts = entries }
    }

    /// Records each log's flushed offset: after an unclean stop, recovery starts from these.
    public func checkpointRecoveryPoints() throws(StorageError) {
        let entries: [TopicPartition: Int64] = lock.withLock {
            // Partitions not open (yet) keep their entry: it is the floor their log end may not go below.
            var entries = recoveryPoints
            for (partition, log) in logs { entries[partition] = log.recoveryPoint }
            recoveryPoints = entries
            return entries
        }
        try Self.writeCheckpoint(entries, to: dataDirectory + "/" + Self.recoveryCheckpointFile)
    }

    /// One maintenance pass: interval flushes, retention, checkpoints. The server runs it periodically.
    public func runMaintenance(retention: Bool) {
        let now = clock()
        for log in allLogs {
            log.flushIfDue(now: now)
            if retention {
                do {
                    try log.compact(now: now)
                } catch {
                    logger.error("compaction failed", metadata: ["partition": "\(log.topicPartition)", "error": "\(error)"])
                }
                log.applyRetention(now: now)
            }
        }
        do {
            try checkpointLogStartOffsets()
            try checkpointRecoveryPoints()
        } catch {
            logger.error("writing checkpoints failed", metadata: ["error": "\(error)"])
        }
    }

    /// Starts the flushes that are due under the `interval` flush policy.
    public func runIntervalFlushes() {
        let now = clock()
        for log in allLogs { log.flushIfDue(now: now) }
    }

    /// Flushes and closes every log, writes the checkpoints and the clean-shutdown marker, and releases
    /// the directory lock. The marker is written only when everything flushed.
    public func shutdown() {
        let all = lock.withLock { Array(logs.values) }
        var clean = true
        for log in all {
            do {
                try log.close()
            } catch {
                clean = false
                logger.error("closing a log failed", metadata: ["partition": "\(log.topicPartition)", "error": "\(error)"])
            }
        }
        do {
            try checkpointLogStartOffsets()
            try checkpointRecoveryPoints()
            if clean {
                let file = try LogFile(path: dataDirectory + "/" + Self.cleanShutdownMarker)
                try file.synchronizeData()
                try FileSystem.synchronizeDirectory(dataDirectory)
            }
        } catch {
            logger.error("writing the clean-shutdown marker failed", metadata: ["error": "\(error)"])
        }
        lock.withLock {
            logs.removeAll()
            if lockDescriptor >= 0 {
                close(lockDescriptor)
                lockDescriptor = -1
            }
        }
        logger.info("log manager stopped", metadata: ["clean": "\(clean)"])
    }

    /// Drops the logs and the directory lock without flushing or writing the clean-shutdown marker, as a
    /// crash would (tests use it to restart "uncleanly" within one process).
    func releaseDirectoryLockForTesting() {
        lock.withLock {
            logs.removeAll()
            if lockDescriptor >= 0 {
                close(lockDescriptor)
                lockDescriptor = -1
            }
        }
    }

    // MARK: Files

    /// Kafka's checkpoint format: a version line (0), a count line, then `topic partition offset` lines.
    static func writeCheckpoint(_ entries: [TopicPartition: Int64], to path: String) throws(StorageError) {
        var text = "0\n\(entries.count)\n"
        for (partition, offset) in entries.sorted(by: { $0.key < $1.key }) {
            text += "\(partition.topic) \(partition.partition) \(offset)\n"
        }
        try FileSystem.writeAtomically(Array(text.utf8), to: path)
    }

    static func readCheckpoint(_ path: String) throws(StorageError) -> [TopicPartition: Int64] {
        guard FileSystem.exists(path) else { return [:] }
        let text = String(decoding: try FileSystem.readAll(path), as: UTF8.self)
        var lines = text.split(separator: "\n")
        guard lines.count >= 2, lines.removeFirst() == "0", let count = Int(lines.removeFirst()), count == lines.count else {
            // A damaged checkpoint only costs a longer recovery: fall back to verifying everything.
            return [:]
        }
        var entries: [TopicPartition: Int64] = [:]
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let partition = Int32(parts[1]), partition >= 0, let offset = Int64(parts[2]),
                  offset >= 0, offset <= Segment.maximumBaseOffset else { return [:] }
            entries[TopicPartition(topic: String(parts[0]), partition: partition)] = offset
        }
        return entries
    }

    /// The topic id in a partition directory's `partition.metadata`; nil when the file is missing or unreadable.
    public func topicId(of topicPartition: TopicPartition) -> KafkaUUID? {
        let path = dataDirectory + "/" + topicPartition.directoryName + "/partition.metadata"
        guard FileSystem.exists(path), let bytes = try? FileSystem.readAll(path) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { String($0.filter { $0 != " " && $0 != "\t" && $0 != "\r" }) }
            if parts.count == 2, parts[0] == "topic_id" { return KafkaUUID(parts[1]) }
        }
        return nil
    }

    /// Writes `partition.metadata` into an existing partition directory.
    public func recordTopicId(_ topicId: KafkaUUID, of topicPartition: TopicPartition) throws(StorageError) {
        try Self.writePartitionMetadata(directory: dataDirectory + "/" + topicPartition.directoryName, topicId: topicId)
    }

    /// Renames a partition directory that must not be served to `<name>.<topic id>-stray`, as Kafka names
    /// stray logs; its data stays on disk. Returns the new name.
    @discardableResult
    public func moveAside(_ topicPartition: TopicPartition, topicId: KafkaUUID) throws(StorageError) -> String {
        let name = topicPartition.directoryName + "." + topicId.description + "-stray"
        try FileSystem.rename(dataDirectory + "/" + topicPartition.directoryName, to: dataDirectory + "/" + name)
        try FileSystem.synchronizeDirectory(dataDirectory)
        return name
    }

    /// `partition.metadata`, as Kafka writes it: the topic id of the partition's topic.
    static func writePartitionMetadata(directory: String, topicId: KafkaUUID) throws(StorageError) {
        let path = directory + "/partition.metadata"
        let contents = "version: 0\ntopic_id: \(topicId)\n"
        if let existing = try? FileSystem.readAll(path), existing == Array(contents.utf8) { return }
        try FileSystem.writeAtomically(Array(contents.utf8), to: path)
    }

    /// Finishes or discards a compaction swap a crash interrupted. A `.log.swap` means the cleaner committed:
    /// move every `.swap` (and any `.cleaned` not yet renamed) into place. Without one, discard the leftovers.
    static func completeInterruptedSwaps(directory: String) throws(StorageError) {
        let names = try FileSystem.contentsOfDirectory(directory)
        let committed = Set(names.filter { $0.hasSuffix(".log.swap") }.map { String($0.dropLast(".log.swap".count)) })
        // The log file goes last: once it is in place without its `.swap`, the swap counts as finished.
        let leftovers = names.filter { $0.hasSuffix(".swap") || $0.hasSuffix(".cleaned") || $0.hasSuffix(".tmp") }
            .sorted { first, second in
                let firstIsLog = first.contains(".log.")
                let secondIsLog = second.contains(".log.")
                return firstIsLog == secondIsLog ? first < second : secondIsLog
            }
        for name in leftovers {
            let path = directory + "/" + name
            let stem = name.split(separator: ".").first.map(String.init) ?? ""
            if committed.contains(stem), name.hasSuffix(".swap") || name.hasSuffix(".cleaned") {
                let suffix = name.hasSuffix(".swap") ? ".swap" : ".cleaned"
                try FileSystem.rename(path, to: String(path.dropLast(suffix.count)))
            } else {
                try FileSystem.remove(path)
            }
        }
        if !committed.isEmpty { try FileSystem.synchronizeDirectory(directory) }
    }
}
