#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The machine a run happened on, recorded with its results.
public struct MachineInfo: Codable, Sendable, Equatable {
    public var hostname: String
    /// Online logical processors.
    public var cores: Int
    /// Physical memory.
    public var memoryBytes: UInt64
    /// The CPU's model name ("unknown" when the system does not say).
    public var cpuModel: String
    /// Kernel name and release, e.g. "Linux 6.8.0-1019-gcp".
    public var kernel: String
    /// The distribution, e.g. "Ubuntu 24.04.1 LTS".
    public var os: String

    public init(hostname: String, cores: Int, memoryBytes: UInt64, cpuModel: String, kernel: String, os: String) {
        self.hostname = hostname
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.cpuModel = cpuModel
        self.kernel = kernel
        self.os = os
    }

    /// This machine: `/proc/cpuinfo` "model name", `/proc/meminfo` MemTotal, `uname`, `/etc/os-release`
    /// PRETTY_NAME, `sysconf(_SC_NPROCESSORS_ONLN)`. Missing sources give "unknown" (or Foundation's figures).
    public static func current() -> MachineInfo {
        var names = utsname()
        var hostname = "unknown"
        var kernel = "unknown"
        if uname(&names) == 0 {
            hostname = Self.string(fromCField: &names.nodename)
            kernel = "\(Self.string(fromCField: &names.sysname)) \(Self.string(fromCField: &names.release))"
        }
        let onlineCores = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        let cores = onlineCores > 0 ? Int(onlineCores) : ProcessInfo.processInfo.activeProcessorCount

        var memory = ProcessInfo.processInfo.physicalMemory
        if let meminfo = ProcFile.readText("/proc/meminfo"), let kib = ProcFile.kibibytes(field: "MemTotal", in: meminfo) {
            memory = kib * 1024
        }

        var cpuModel = "unknown"
        if let cpuinfo = ProcFile.readText("/proc/cpuinfo") {
            // x86 says "model name"; some ARM kernels say "Model" or only "CPU part".
            for key in ["model name", "Model", "Processor", "cpu model"] {
                if let value = ProcFile.value(of: key, in: cpuinfo, separator: ":"), !value.isEmpty {
                    cpuModel = value
                    break
                }
            }
        }

        var os = ProcessInfo.processInfo.operatingSystemVersionString
        if let release = ProcFile.readText("/etc/os-release"), let pretty = ProcFile.value(of: "PRETTY_NAME", in: release, separator: "=") {
            os = pretty.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }

        return MachineInfo(hostname: hostname, cores: cores, memoryBytes: memory, cpuModel: cpuModel, kernel: kernel, os: os)
    }

    /// A NUL-terminated C character array field of a struct (as `utsname`'s) as a String.
    private static func string<T>(fromCField field: inout T) -> String {
        withUnsafeBytes(of: &field) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// Memory of another process, for the connection workload's broker footprint.
public enum ProcessMemory {
    /// The resident set size of process `pid` (`/proc/PID/status` VmRSS), nil when unknown (no such process,
    /// no procfs, a kernel thread).
    public static func residentBytes(pid: Int32) -> UInt64? {
        guard pid > 0, let status = ProcFile.readText("/proc/\(pid)/status") else { return nil }
        return ProcFile.kibibytes(field: "VmRSS", in: status).map { $0 * 1024 }
    }
}

/// Reading small procfs-style text files. They report a size of 0, so they are read until end of file.
enum ProcFile {
    static func readText(_ path: String, limit: Int = 4 << 20) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while data.count < limit {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The value after `separator` on the first line whose key (before it, trimmed) is `key`.
    static func value(of key: String, in text: String, separator: Character) -> String? {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let index = line.firstIndex(of: separator) else { continue }
            if line[..<index].trimmingCharacters(in: .whitespaces) == key {
                return line[line.index(after: index)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// A "Field:   1234 kB" line's number.
    static func kibibytes(field: String, in text: String) -> UInt64? {
        guard let value = value(of: field, in: text, separator: ":") else { return nil }
        return value.split(separator: " ").first.flatMap { UInt64($0) }
    }
}
