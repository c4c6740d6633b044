// DescribeLogDirs (key 35), versions 0-4.
//
// Behavior: one log directory (the data directory, as an absolute path) with the size of each requested
// partition's log (all topics when the request's list is null). Offset lag is 0: there are no future
// (moving) replicas.
// Authorization (with the ACL authorizer): DESCRIBE on the cluster, else CLUSTER_AUTHORIZATION_FAILED (v3+;
// older versions get no directories, as Kafka answers). The hidden internal topics are left out.
// Version notes: v3+ top-level error code; v4 the directory's total and usable bytes.

import AccessControl
import KafkaProtocol
import LogStore
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

enum DescribeLogDirsHandler {
    static func handle(_ request: DescribeLogDirsRequest, context: RequestContext) -> StartedRequest {
        let broker = context.broker
        guard context.authorizedOnCluster(.describe) else {
            return context.serial(DescribeLogDirsResponse(
                throttleTimeMs: 0, errorCode: context.version >= 3 ? KafkaErrorCode.clusterAuthorizationFailed.rawValue : 0, results: []))
        }
        let response = broker.blocking(on: context.eventLoop) { () -> DescribeLogDirsResponse in
            var result = DescribeLogDirsResponse.DescribeLogDirsResult(errorCode: 0, logDir: absolutePath(broker.configuration.dataDirectory), topics: [], totalBytes: -1, usableBytes: -1)
            if let capacity = try? FileSystem.capacity(of: broker.configuration.dataDirectory) {
                result.totalBytes = capacity.total
                result.usableBytes = capacity.usable
            }
            let wanted: [(String, [Int32])]
            if let topics = request.topics {
                wanted = topics.map { ($0.topic, $0.partitions) }
            } else {
                wanted = broker.topics.allTopics.map { ($0.name, Array(0..<$0.partitionCount)) }
            }
            for (name, partitions) in wanted where !Broker.isHidden(topic: name) {
                var topic = DescribeLogDirsResponse.DescribeLogDirsTopic(name: name, partitions: [])
                for partition in partitions {
                    guard let log = broker.log(topic: name, partition: partition) else { continue }
                    topic.partitions.append(.init(partitionIndex: partition, partitionSize: log.offsets.sizeBytes, offsetLag: 0, isFutureKey: false))
                }
                if !topic.partitions.isEmpty { result.topics.append(topic) }
            }
            return DescribeLogDirsResponse(throttleTimeMs: 0, errorCode: 0, results: [result])
        }
        return context.serial(response)
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }
}
