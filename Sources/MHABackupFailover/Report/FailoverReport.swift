import FoundationEssentials
import Glibc
import MHABackupBase

/// One page of Markdown about one failover, for the incident review: what MHA did (its manager
/// log) interleaved with what we did (the audit), the data at risk, the time from detection to a
/// writable new master, the backups and the timeline, and every problem with what to do next.
/// A pure function of its inputs (unit-tested with fixtures).
public enum FailoverReport {
    public struct Input: Sendable {
        public var record: FailoverRecord
        /// The audit events of this failover (any order).
        public var audit: [AuditEvent]
        /// MHA's manager log text, when known and readable.
        public var managerLog: String?
        public var managerLogPath: String?
        public var cluster: String
        /// When the report is written: a record still open makes it preliminary.
        public var now: Date
        /// The manager log's time zone (MHA writes local time).
        public var logTimeZone: TimeZone

        public init(record: FailoverRecord, audit: [AuditEvent], managerLog: String?, managerLogPath: String?, cluster: String,
                    now: Date, logTimeZone: TimeZone = .current) {
            self.record = record
            self.audit = audit
            self.managerLog = managerLog
            self.managerLogPath = managerLogPath
            self.cluster = cluster
            self.now = now
            self.logTimeZone = logTimeZone
        }
    }

    /// What MHA's log says about this failover.
    public struct MHAFacts: Sendable {
        public var firstError: ManagerLogLine?
        public var masterDown: ManagerLogLine?
        public var newMaster: String?
        public var writable: ManagerLogLine?
        /// `The latest binary log file/position on all slaves is FILE:POS`.
        public var replicasLatest: (file: String, position: Int64)?
        public enum DeadMasterSave: String, Sendable { case nothingMore, saved, saveFailed, skipped, unknown }
        public var deadMasterSave: DeadMasterSave = .unknown
        public var completed: ManagerLogLine?
        public var errors: [ManagerLogLine] = []
        public var timeline: [ManagerLogLine] = []
    }

    /// The lines of the log that belong to this failover: from ten minutes before the record was
    /// opened to two minutes after it closed (or after the last audit event).
    public static func mhaFacts(_ lines: [ManagerLogLine], openedAt: Date, end: Date) -> MHAFacts {
        var f = MHAFacts()
        let window = lines.filter { $0.time >= openedAt.addingTimeInterval(-600) && $0.time <= end.addingTimeInterval(120) }
        // The detection that led to this record: the last "Master is down!" before it was opened.
        let down = window.last { $0.message == "Master is down!" && $0.time <= openedAt.addingTimeInterval(5) }
        f.masterDown = down
        let from = down.map { d in window.lastIndex { $0.message.hasPrefix("Ping(SELECT) succeeded") && $0.time <= d.time } ?? window.startIndex }
            ?? window.startIndex
        let mine = Array(window[from...])
        f.firstError = mine.first { $0.level == "warning" && ($0.message.hasPrefix("Got error on MySQL select ping") || $0.message.hasPrefix("Got error on MySQL connect")) }
        func keep(_ l: ManagerLogLine) -> Bool {
            let m = l.message
            if l.level == "error" { return true }
            guard l.stamped else { return false }
            return m == "Master is down!" || m == "Starting master failover." || m.hasSuffix("is not reachable!")
                || (m.hasPrefix("* Phase ") && m.dropFirst(8).first?.isNumber == true && m.dropFirst(9).first == ":")
                || m.hasPrefix("SSH reachable. Shutting down") || m.hasPrefix("The latest binary log file/position on all slaves is")
                || m.hasPrefix("Additional events were not found") || (m.hasPrefix("scp from") && m.contains("saved_master_binlog"))
                || m.hasPrefix("SSH is not reachable") || m.hasPrefix("Skipping trying to save dead master")
                || m.hasPrefix("New master is ") || m.hasPrefix("Setting read_only=0 on") || m.hasPrefix("Master failover to ")
                || (m.hasPrefix("-- Slave recovery on host") && (m.hasSuffix("succeeded.") || m.contains("failed")))
        }
        var firstErrorShown = false
        for l in mine {
            let m = l.message
            if l.level == "error" { f.errors.append(l) }
            if let e = f.firstError, l == e, !firstErrorShown { f.timeline.append(l); firstErrorShown = true; continue }
            if keep(l) { f.timeline.append(l) }
            if m.hasPrefix("The latest binary log file/position on all slaves is "), f.replicasLatest == nil {
                let fp = m.dropFirst("The latest binary log file/position on all slaves is ".count)
                if let c = fp.lastIndex(of: ":"), let p = Int64(fp[fp.index(after: c)...].trimmedBlanks()) {
                    f.replicasLatest = (String(fp[..<c]), p)
                }
            }
            if m.hasPrefix("Additional events were not found from the orig master") { f.deadMasterSave = .nothingMore }
            if m.hasPrefix("scp from"), m.contains("saved_master_binlog") {
                f.deadMasterSave = m.hasSuffix("succeeded.") ? .saved : .saveFailed
            }
            if m.hasPrefix("Skipping trying to save dead master") || (m.hasPrefix("SSH is not reachable") && f.deadMasterSave == .unknown) {
                f.deadMasterSave = .skipped
            }
            if m.hasPrefix("New master is ") { f.newMaster = String(m.dropFirst("New master is ".count)) }
            if m.hasPrefix("Setting read_only=0 on"), f.writable == nil { f.writable = l }
            if m.hasPrefix("Master failover to ") { f.completed = l }
        }
        return f
    }

    static func hms(_ d: Date) -> String {
        String(ISO8601.format(d).dropFirst(11).prefix(8))   // 2026-12-01T21:19:47.123Z
    }

    static func cell(_ s: String) -> String {
        String(s.map { $0 == "|" ? "/" : ($0.isNewline ? " " : $0) }).trimmedBlanks()
    }

    static func before(_ a: (String, Int64), _ b: (String, Int64)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }

    public static func render(_ input: Input) -> String {
        let r = input.record
        let audit = input.audit.filter { $0.failoverId == r.id }.sorted { $0.time < $1.time }
        let lines = input.managerLog.map { ManagerLog.parse($0, timeZone: input.logTimeZone) } ?? []
        let end = r.closedAt ?? audit.last?.time ?? input.now
        let mha = mhaFacts(lines, openedAt: r.openedAt, end: end)
        let final = r.status != .open
        var out: [String] = []
        let arrow = r.newMaster.map { " → \($0.host)" } ?? ""
        out.append("# \(r.kind == .switchover ? "Switchover" : "Failover") \(r.deadMaster.host)\(arrow): \(r.status.rawValue)")
        out.append("")
        out.append("Cluster `\(input.cluster)`, failover `\(r.id)`, times in UTC. "
                   + (final ? "Written \(input.now.formatted(Date.ISO8601FormatStyle())) after the failover closed."
                            : "**Preliminary** (written \(input.now.formatted(Date.ISO8601FormatStyle())) while the report's worker still runs; it rewrites this file when done)."))
        out.append("")

        // Detection and writable.
        let detected: (Date, String)? = mha.masterDown.map { ($0.time, "MHA: \"Master is down!\"") }
            ?? audit.first.map { ($0.time, "first hook call (\($0.hook) \($0.phase)); MHA's log not available") }
        let promotion = audit.first { $0.action == "promotion recorded" && $0.outcome == .ok }
        let writable: (Date, String)? = mha.writable.map { ($0.time, "MHA: \"\($0.message)\"") }
            ?? promotion.map { ($0.time, "our promotion point recorded (read_only was still on; MHA's log not available)") }
        var problems: [(String, String)] = []

        out.append("## Summary")
        out.append("")
        if let d = detected { out.append("- **Detected:** \(hms(d.0)) (\(d.1))" + (mha.firstError.map { "; MHA's first failed check at \(hms($0.time))" } ?? "")) }
        if let w = writable {
            out.append("- **New master writable:** \(hms(w.0)) (\(w.1))")
            if let d = detected { out.append("- **Detection to writable new master:** \(Int((w.0.timeIntervalSince(d.0)).rounded())) s") }
        } else if r.status == .failed {
            out.append("- **New master writable:** never: MHA did not promote a new master")
        } else {
            out.append("- **New master writable:** not known yet")
        }
        if let c = mha.completed { out.append("- **MHA:** \(c.message) (\(hms(c.time)))") }

        // Data at risk.
        var risk: [(String, String)] = []
        if let l = mha.replicasLatest { risk.append(("Latest position any replica held (MHA)", "`\(l.file):\(l.position)`")) }
        let saveText: String
        switch mha.deadMasterSave {
        case .nothingMore: saveText = "nothing more: the replicas had every event of the dead master (\"Additional events were not found\")"
        case .saved: saveText = "the dead master's binlog after the replicas' position, copied and applied (saved_master_binlog)"
        case .saveFailed: saveText = "**failed**: MHA could not copy the dead master's binlog"
        case .skipped: saveText = "**not attempted**: ssh did not reach the dead master"
        case .unknown: saveText = input.managerLog == nil ? "unknown (MHA's log not available)" : "not found in MHA's log"
        }
        risk.append(("MHA saved from the dead master", saveText))
        if let s = r.salvage {
            let end = s.lastFile.map { f in "`\(f):\(s.lastPosition.map(String.init) ?? "?")`" } ?? "-"
            risk.append(("Our salvage of the dead master's binlogs", "\(s.state.rawValue) (attempt \(s.attempt)), \(s.files.count) file(s), ends at \(end)"))
        } else if r.kind == .failover {
            risk.append(("Our salvage of the dead master's binlogs", "not run"))
        }
        if let p = r.promotion {
            risk.append(("New master promoted at", "`\(p.file):\(p.position)`" + (p.gtid.map { ", GTID `\($0)`" } ?? "")))
        }
        let lost: String
        if r.kind == .switchover {
            lost = "none: a planned switch (the old master stayed up)"
        } else if r.status == .failed && r.newMaster == nil {
            lost = "no new master was promoted: the data stays on the old master and its replicas"
        } else if mha.deadMasterSave == .nothingMore || mha.deadMasterSave == .saved {
            lost = "**none**: MHA applied every event of the dead master to the new master"
        } else if let l = mha.replicasLatest, let s = r.salvage, s.state == .done, let f = s.lastFile, let p = s.lastPosition {
            if before((l.file, l.position), (f, p)) {
                lost = "**`\(l.file):\(l.position)` to `\(f):\(p)` of the dead master is not on the new master**; our archive holds it (`store_dir/binlogs/`): a restore replays it"
                problems.append(("transactions of the dead master from \(l.file):\(l.position) to \(f):\(p) are not on the new master",
                                 "decide whether to re-apply them (mariadb-binlog from the archive, checking for conflicts); a PITR restore includes them"))
            } else {
                lost = "**none**: our salvage found nothing beyond the replicas' position"
            }
        } else if mha.replicasLatest != nil || input.managerLog != nil {
            lost = "**unknown**: neither MHA nor our salvage read the dead master's binlog after the replicas' position"
            problems.append(("what the dead master wrote after the replicas' position is unknown",
                             "when its host is back, compare its binlog with the archive: `mha-backup salvage --failover \(r.id)`"))
        } else {
            lost = "unknown: MHA's log not available"
        }
        risk.append(("Provably lost", lost))
        out.append("- **Data lost:** \(lost)")

        // Backups.
        let jobLines = audit.filter { e in ["pause job ", "abort job ", "resume job "].contains { e.action.hasPrefix($0) } && !e.action.hasSuffix("on its source") }
        let paused = Set(r.pausedJobs), aborted = Set(r.abortedJobs)
        out.append("- **Backups:** \(paused.count) paused, \(aborted.count) aborted"
                   + (r.fullBackupJob.map { "; full backup `\($0)` started on the new timeline" } ?? ""))
        out.append("")

        out.append("## Data at risk")
        out.append("")
        out.append("| | |")
        out.append("|---|---|")
        for (k, v) in risk { out.append("| \(k) | \(cell(v)) |") }
        out.append("")

        // Timeline: MHA and us, interleaved.
        out.append("## What happened")
        out.append("")
        out.append("| time | who | what |")
        out.append("|---|---|---|")
        var rows: [(Date, Int, String)] = []
        for (i, l) in mha.timeline.enumerated() { rows.append((l.time, i, "| \(hms(l.time)) | MHA | \(cell(l.message)) |")) }
        for (i, e) in audit.enumerated() {
            let what = "\(e.hook) \(e.phase): \(e.action)\(e.host.map { " \($0)" } ?? ""): \(e.outcome.rawValue)"
                + (e.durationMs.map { " (\($0) ms)" } ?? "") + (e.message.map { " — \($0)" } ?? "")
            rows.append((e.time, 10_000 + i, "| \(hms(e.time)) | mha-backup | \(cell(what)) |"))
        }
        for row in rows.sorted(by: { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }) { out.append(row.2) }
        if input.managerLog == nil {
            out.append("")
            out.append("MHA's manager log \(input.managerLogPath.map { "`\($0)` could not be read" } ?? "is not named in the app.cnf (`manager_log`)"): only our side is shown.")
        }
        out.append("")

        out.append("## Backups and the timeline")
        out.append("")
        if jobLines.isEmpty { out.append("- no backup was running") }
        for e in jobLines { out.append("- \(hms(e.time)) \(e.action)\(e.host.map { " on \($0)" } ?? ""): \(e.outcome.rawValue)\(e.message.map { " — \(cell($0))" } ?? "")") }
        if let p = promotion { out.append("- timeline: \(p.message ?? "moved to \(r.newMaster?.host ?? "?")")") }
        else if let rp = audit.last(where: { $0.action == "re-point" }) { out.append("- timeline: re-point \(rp.outcome.rawValue)\(rp.message.map { " — \($0)" } ?? "")") }
        if let j = r.fullBackupJob { out.append("- full backup on the new timeline: job `\(j)` (`mha-backup jobs`, then `mha-backup list`)") }
        else if final && r.status == .succeeded && r.kind == .failover { out.append("- no full backup was started after the failover") }
        out.append("")

        // Problems.
        for e in audit where e.outcome == .failed {
            problems.append(("\(e.hook) \(e.phase): \(e.action)\(e.host.map { " on \($0)" } ?? ""): \(e.message ?? "failed")", nextStep(e.action, id: r.id)))
        }
        if let s = r.salvage, s.state != .done, !audit.contains(where: { $0.action == "salvage binlogs" && $0.outcome == .failed }) {
            problems.append(("the binlog salvage is \(s.state.rawValue)\(s.message.map { ": \($0)" } ?? "")", nextStep("salvage binlogs", id: r.id)))
        }
        for l in mha.errors {
            problems.append(("MHA: \(l.message)", "read MHA's log\(input.managerLogPath.map { " `\($0)`" } ?? "") around \(hms(l.time)); after an error in phase 3.5 or later MHA says manual recovery is needed"))
        }
        if r.status == .failed { problems.append(("MHA's failover failed", "check the cluster (`masterha_check_repl`, `mha-backup status`); the fence was lifted and paused backups resumed")) }
        out.append("## Problems and what to do next")
        out.append("")
        if problems.isEmpty { out.append("None.") }
        for (what, next) in problems { out.append("- \(cell(what)). **Next:** \(next)") }
        out.append("")
        return out.joined(separator: "\n")
    }

    static func nextStep(_ action: String, id: String) -> String {
        switch action {
        case let a where a.hasPrefix("salvage") || a.contains("salvage"):
            return "redo the salvage while ssh still reaches the dead master: `mha-backup salvage --failover \(id)`"
        case let a where a.contains("stream"):
            return "start the live binlog stream again (`mha-backup binlog stream`, or its systemd unit) and check `mha-backup status`"
        case "re-point", "record promotion", "promotion recorded":
            return "check `mha-backup status`: the timeline must follow the new master; PITR across this failover may need the GTID bridge"
        case "start full backup":
            return "start it by hand: `mha-backup backup full`"
        case let a where a.hasPrefix("pause job") || a.hasPrefix("abort job") || a.hasPrefix("resume job") || a == "pause jobs":
            return "check `mha-backup jobs`; a backup that did not complete is replaced by the next full backup"
        case let a where a.hasPrefix("chained"):
            return "the site's chained script failed: read its output in MHA's log"
        default:
            return "see `mha-backup audit --failover \(id)`"
        }
    }
}
