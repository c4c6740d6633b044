public import LogStore
public import NIOPosix

/// What the group coordinator needs from the rest of the server: the `__consumer_offsets` logs, whether a
/// partition exists (commits to unknown partitions are refused) and the I/O pool for blocking work. The
/// `Broker` provides it; tests can provide their own.
public protocol GroupCoordinatorStorage: Sendable {
    /// The partition logs of `__consumer_offsets`, in partition order. When the topic does not exist it is
    /// created with `partitions` and `configs` if `partitions` is given, otherwise nil is returned. An
    /// existing topic gets the `configs` it lacks. Blocking (file I/O): call on the I/O pool or at start.
    func offsetsTopicLogs(creatingWith partitions: Int32?, configs: [String: String]) throws -> [any PartitionLog]?
    func hasPartition(_ partition: TopicPartition) -> Bool
    var threadPool: NIOThreadPool { get }
}
