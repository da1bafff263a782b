import FoundationEssentials
import Glibc
import Dispatch

/// One alert: a line in `state_dir/alerts.jsonl` and the configured alert command (detached,
/// never waited for). Within a failover, one alert per kind: a second of the same kind (a re-run,
/// the worker and the hook both seeing it) is recorded in the audit but not sent again.
public enum Alerts {
    struct Line: Codable {
        var time: Date
        var severity: String
        var summary: String
        var details: String
        var failoverId: String?
        var kind: String?
    }

    /// Returns false when the same kind was already raised for this failover.
    @discardableResult
    public static func raise(config c: BackupConfig, severity: String, summary: String, details: String = "",
                             failoverId: String?, kind: String?, now: Date) -> Bool {
        if let id = failoverId, let kind {
            let dir = c.stateDir + "/alerts-sent"
            try? AtomicFile.makeDirectory(dir)
            let safe = (id + "." + kind).map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") ? $0 : "_" }
            let fd = open("\(dir)/\(String(safe))", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            if fd < 0 && errno == EEXIST { return false }
            if fd >= 0 { close(fd) }
        }
        if let d = try? JSON.encode(Line(time: now, severity: severity, summary: summary, details: details,
                                         failoverId: failoverId, kind: kind), pretty: false),
           let line = String(data: d, encoding: .utf8) {
            try? appendLine(line, to: c.alertsPath)
        }
        if let cmd = c.alertCommand {
            _ = try? ProcessRunner.spawnDetached(Command([cmd, severity, summary]))
        }
        return true
    }
}
