import NIOCore
import NIOSSL

/// TLS for the bench's connections (kafka-produce/consume and mqtt-fanout over `SSL`/`mqtts`, the
/// connect-rate workloads): one client context per run, trusting the CA file given; the broker's name is
/// not checked (loopback benchmarks connect to an address).
final class BenchTLS: Sendable {
    let context: NIOSSLContext

    init(caFile: String) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(caFile)
        configuration.certificateVerification = .noHostnameVerification
        context = try NIOSSLContext(configuration: configuration)
    }

    /// Adds the TLS handler to a new client channel.
    var setup: @Sendable (any Channel) throws -> Void {
        let context = self.context
        return { channel in try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: nil)) }
    }

    /// The setup for `caFile`, or nil without TLS.
    static func setup(caFile: String?) throws -> (@Sendable (any Channel) throws -> Void)? {
        guard let caFile else { return nil }
        do {
            return try BenchTLS(caFile: caFile).setup
        } catch {
            throw BenchFailure("TLS with the CA file \(caFile): \(error)")
        }
    }
}
