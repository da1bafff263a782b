import FoundationEssentials
import Glibc
import Dispatch

/// One alert: a line in `state_dir/alerts.jsonl` first (it stays there whatever happens to its
/// delivery), then the configured alert command and, when a webhook or mail is configured, a
/// detached `mha-backup alerts deliver` (never waited for: raising costs a spawn, not a send).
/// Within a failover, one alert per kind (and key): a second (a re-run, the worker and the hook
/// both seeing it) is recorded in the audit but not sent again.
public enum Alerts {
    /// A line of `alerts.jsonl`. Lines written before delivery existed have no `id` and are never delivered.
    public struct Line: Codable, Sendable, Equatable {
        public var id: String?
        public var time: Date
        public var severity: String
        public var summary: String
        public var details: String
        public var failoverId: String?
        public var kind: String?
        public var host: String?
        public var cluster: String?

        public var alertSeverity: AlertSeverity { AlertSeverity(rawValue: severity) ?? .warning }
    }

    /// Returns false when the same kind (and key) was already raised for this failover.
    /// `key` tells apart alerts of one kind within a failover (e.g. which hook step failed).
    @discardableResult
    public static func raise(config c: BackupConfig, severity: AlertSeverity, kind: AlertKind, key: String? = nil,
                             summary: String, details: String = "", failoverId: String?, now: Date) -> Bool {
        if let id = failoverId {
            let dir = c.stateDir + "/alerts-sent"
            try? AtomicFile.makeDirectory(dir)
            let name = [id, kind.rawValue, key].compactMap { $0 }.joined(separator: ".")
            let safe = name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") ? $0 : "_" }
            let fd = open("\(dir)/\(String(safe))", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            if fd < 0 && errno == EEXIST { return false }
            if fd >= 0 { close(fd) }
        }
        let line = Line(id: newId(now), time: now, severity: severity.rawValue, summary: summary, details: details,
                        failoverId: failoverId, kind: kind.rawValue, host: hostName(), cluster: c.clusterName)
        if let d = try? JSON.encode(line, pretty: false), let text = String(data: d, encoding: .utf8) {
            try? appendLine(text, to: c.alertsPath)
        }
        if let cmd = c.alertCommand {
            _ = try? ProcessRunner.spawnDetached(Command([cmd, severity.rawValue, summary]))
        }
        if c.alertDelivery.hasChannel { spawnDeliverer(config: c) }
        return true
    }

    /// `alert-20261201T101500Z-<pid>-<random>`: unique without a shared counter.
    static func newId(_ now: Date) -> String {
        "alert-\(compactUTC(now))-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "unknown" }
        return String(cString: buf)
    }

    /// Starts `mha-backup alerts deliver --background` beside the running executable, in its own
    /// session (through `setsid -f`, as the hook worker), stdio to `alerts-deliver.log`.
    static func spawnDeliverer(config c: BackupConfig) {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return }
        let bin = "\(Path.dir(String(cString: buf)))/mha-backup"
        guard access(bin, X_OK) == 0 else { return }
        _ = try? ProcessRunner.spawnDetachedThroughSetsid(Command([bin, "--config", c.path, "alerts", "deliver", "--background"]),
                                                          logFile: c.stateDir + "/alerts-deliver.log")
    }
}
