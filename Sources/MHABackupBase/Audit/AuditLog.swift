import FoundationEssentials
import Glibc
import Dispatch

/// How a step ended, as the audit trail and `mha-backup audit` spell it.
public enum AuditOutcome: String, Codable, Sendable, CaseIterable {
    case ok, failed, skipped, warning, info
    /// A dry run's step: what the real run would do.
    case planned
}

/// One step of a failover (or of any hook call), as recorded in the audit trail.
public struct AuditEvent: Codable, Sendable, Equatable {
    public var time: Date
    public var failoverId: String?
    public var hook: String
    public var phase: String
    public var action: String
    public var host: String?
    public var outcome: AuditOutcome
    public var durationMs: Int?
    public var exitCode: Int32?
    public var args: [String]?
    public var message: String?
    public var pid: Int32

    public init(time: Date, failoverId: String?, hook: String, phase: String, action: String, host: String? = nil,
                outcome: AuditOutcome, durationMs: Int? = nil, exitCode: Int32? = nil, args: [String]? = nil,
                message: String? = nil, pid: Int32 = getpid()) {
        self.time = time
        self.failoverId = failoverId
        self.hook = hook
        self.phase = phase
        self.action = action
        self.host = host
        self.outcome = outcome
        self.durationMs = durationMs
        self.exitCode = exitCode
        self.args = args
        self.message = message
        self.pid = pid
    }
}

/// The append-only audit trail: JSON lines in `state_dir/audit.jsonl`. Secrets never reach it:
/// arguments are redacted here, whatever the caller passed.
public final class AuditLog: @unchecked Sendable {
    public let path: String
    public var secrets: [String] = []
    private var fd: Int32 = -1
    private let lock = Lock()

    public init(path: String) {
        self.path = path
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends one event (one write(2) with O_APPEND: lines of concurrent hooks never interleave).
    public func append(_ e: AuditEvent) {
        var e = e
        e.args = e.args.map(Redaction.redact)
        e.message = e.message.map { Redaction.redact(text: $0, secrets: secrets) }
        guard let data = try? JSON.encode(e, pretty: false) else { return }
        lock.lock(); defer { lock.unlock() }
        if fd < 0 {
            try? AtomicFile.makeDirectory(Path.dir(path))
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if fd < 0 { return }
        }
        var line = data
        line.append(0x0A)
        _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
    }

    /// Makes what was appended durable (once per hook call, not per line: a hook is on MHA's path).
    public func sync() {
        lock.lock(); defer { lock.unlock() }
        if fd >= 0 { fdatasync(fd) }
    }

    public func read() -> [AuditEvent] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let d = JSON.decoder
        return data.split(separator: 0x0A).compactMap { try? d.decode(AuditEvent.self, from: Data($0)) }
    }
}
