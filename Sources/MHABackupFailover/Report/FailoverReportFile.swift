import FoundationEssentials
import Glibc
import MHABackupBase

/// `state_dir/failovers/ID.report.md`: the incident report of one failover, beside its record.
/// Written by report_script (preliminary, from what is known on MHA's path, before the chained
/// `send_report` runs and gets its path in `MHA_BACKUP_REPORT`) and rewritten by the report's
/// worker when the failover is closed; `mha-backup audit --report` renders it anew.
public enum FailoverReportFile {
    /// The environment variable that names the report for the chained report script.
    public static let environmentVariable = "MHA_BACKUP_REPORT"

    public static func path(stateDir: String, id: String) -> String { "\(stateDir)/failovers/\(id).report.md" }

    /// The last `maxBytes` of a file, from its first whole line (a long-lived log is read only at its end).
    static func tail(_ path: String, maxBytes: Int) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let size = Int(st.st_size)
        let start = max(0, size - maxBytes)
        guard lseek(fd, off_t(start), SEEK_SET) >= 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: size - start)
        var got = 0
        while got < buf.count {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n <= 0 { break }
            got += n
        }
        var bytes = buf[0..<got]
        if start > 0, let nl = bytes.firstIndex(of: 0x0A) { bytes = bytes[(nl + 1)...] }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The report's Markdown, from the record, the audit trail and MHA's manager log.
    public static func render(ctx: Context, failoverId id: String, now: Date) throws -> String {
        guard let rec = FailoverStore(stateDir: ctx.config.stateDir).load(id) else {
            throw MBError(.noInput, "no failover record \(q(id)) in \(q(ctx.config.stateDir + "/failovers"))")
        }
        let d = JSON.decoder
        let audit = (tail(ctx.config.auditPath, maxBytes: 16 << 20) ?? "").split(separator: "\n")
            .filter { $0.contains(id) }
            .compactMap { try? d.decode(AuditEvent.self, from: Data($0.utf8)) }
            .filter { $0.failoverId == id }
        let logPath = ctx.mha.managerLog
        let log = logPath.flatMap { tail($0, maxBytes: 8 << 20) }
        return FailoverReport.render(.init(record: rec, audit: audit, managerLog: log, managerLogPath: logPath,
                                           cluster: ctx.config.clusterName, now: now))
    }

    /// Renders and writes the report (atomically); returns its path, or nil when it could not.
    @discardableResult
    public static func write(ctx: Context, failoverId id: String, now: Date) -> String? {
        let p = path(stateDir: ctx.config.stateDir, id: id)
        guard let text = try? render(ctx: ctx, failoverId: id, now: now),
              (try? AtomicFile.write(text, to: p, mode: 0o640, durable: false)) != nil else { return nil }
        return p
    }
}
