import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// The incident report after a real MHA failover (FailoverLab: `MHA_BACKUP_FAILOVER_BASE`, default 30),
/// each figure checked against MHA's manager log, the failover record and the audit trail, read here
/// on their own.
@Suite("the incident report after a real MHA failover", .serialized)
struct FailoverReportIntegrationTests {
    let lab = FailoverLab.shared

    /// A stamp of MHA's log (`Tue Dec  1 21:19:47 2026`, the manager's local time) as UTC `HH:mm:ss`, and its Date.
    static func stamp(_ line: Substring) throws -> (String, Date) {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = .current
        f.dateFormat = "EEE MMM d HH:mm:ss yyyy"
        let d = try #require(f.date(from: String(line.prefix(24)).replacingOccurrences(of: "  ", with: " ")))
        let u = DateFormatter()
        u.locale = Locale(identifier: "en_US_POSIX")
        u.timeZone = TimeZone(identifier: "UTC")
        u.dateFormat = "HH:mm:ss"
        return (u.string(from: d), d)
    }

    @Test("report.md after a failover with a paused backup: MHA's times, the data at risk, the backups; the chained report script gets its path")
    func reportAfterFailover() throws {
        let script = "\(NSTemporaryDirectory())mha-backup-send-report-\(UUID().uuidString).sh"
        let out = script + ".out"
        try AtomicFile.write("#!/bin/sh\necho \"$MHA_BACKUP_REPORT\" > \(out)\ncat \"$MHA_BACKUP_REPORT\" >> \(out)\nexit 0\n", to: script, mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: script); try? FileManager.default.removeItem(atPath: out) }
        try lab.fresh(["backup": ["throttle = 10"], "chain": ["report_script = \(script)"]], bigMB: 150)
        let ctx = try lab.context()
        let jobId = "rep-job-\(UInt32.random(in: 0...999999))"
        var job: pid_t = 0
        let new = try lab.failover(wholeHost: false) {
            job = try lab.startBackup(id: jobId, source: lab.h3)
            _ = try lab.waitStarted(jobId)
        }
        defer { if job > 0 { _ = lab.waitFinished(job) } }
        #expect(new == lab.h2)
        let rec0 = try lab.lastFailover()
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        #expect(Harness.shared.wait(60) { (store.load(rec0.id)?.status ?? .open) != .open })
        let rec = try #require(store.load(rec0.id))
        let path = "\(ctx.config.stateDir)/failovers/\(rec.id).report.md"
        // The worker rewrites it once the record is closed (its audit line comes after the file).
        #expect(Harness.shared.wait(30) { (try? lab.audit(rec.id))?.contains { $0.hook == "worker" && $0.action == "incident report" } ?? false })
        let md = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!md.contains("Preliminary"), "the worker did not rewrite it")
        #expect(md.hasPrefix("# Failover \(lab.h1) → \(lab.h2): succeeded\n"))

        // The chained send_report got the path, and a report (written before it ran: preliminary).
        let chained = try String(contentsOfFile: out, encoding: .utf8)
        #expect(chained.hasPrefix(path + "\n"), "MHA_BACKUP_REPORT: \(chained.prefix(200))")
        #expect(chained.contains("# Failover \(lab.h1) → \(lab.h2)") && chained.contains(rec.id))

        // Against MHA's log, read here on its own.
        let log = try String(contentsOfFile: lab.sb.managerLog, encoding: .utf8).split(separator: "\n")
        let down = try #require(log.last { $0.hasSuffix("[info] Master is down!") })
        let writable = try #require(log.last { $0.contains("[info] Setting read_only=0 on \(lab.h2)(") })
        let (downHMS, downAt) = try Self.stamp(down)
        let (wHMS, wAt) = try Self.stamp(writable)
        #expect(md.contains("- **Detected:** \(downHMS) (MHA: \"Master is down!\")"), "\(md.prefix(800))")
        #expect(md.contains("- **New master writable:** \(wHMS) (MHA: \"Setting read_only=0 on \(lab.h2)(\(lab.h2):3306)..\")"))
        #expect(md.contains("- **Detection to writable new master:** \(Int(wAt.timeIntervalSince(downAt).rounded())) s"))
        let latest = try #require(log.last { $0.contains("The latest binary log file/position on all slaves is ") })
        let pos = String(latest[latest.range(of: "all slaves is ")!.upperBound...])
        #expect(md.contains("| Latest position any replica held (MHA) | `\(pos)` |"))
        #expect(md.contains("| Provably lost | **none**"), "mysqld dead, ssh alive: MHA applies the dead master's binlog")

        // Against the record.
        let p = try #require(rec.promotion)
        #expect(md.contains("| New master promoted at | `\(p.file):\(p.position)`" + (p.gtid.map { ", GTID `\($0)`" } ?? "") + " |"))
        let s = try #require(rec.salvage)
        #expect(md.contains("| Our salvage of the dead master's binlogs | \(s.state.rawValue) (attempt \(s.attempt)), \(s.files.count) file(s), ends at `\(s.lastFile ?? "?"):\(s.lastPosition ?? -1)` |"))
        #expect(rec.pausedJobs.contains(jobId))
        #expect(md.contains("- **Backups:** \(rec.pausedJobs.count) paused, \(rec.abortedJobs.count) aborted; full backup `\(rec.fullBackupJob ?? "-")` started on the new timeline"))
        #expect(md.contains("pause job \(jobId) on \(lab.h3): ok"))
        #expect(md.contains("resume job \(jobId)"))

        // Against the audit: every step of ours written before the worker's final report has its row
        // (the worker's own line, and a hook's 'hook exit' that comes later, cannot be in it).
        let events = try lab.audit(rec.id)
        let written = try #require(events.last { $0.hook == "worker" && $0.action == "incident report" }).time
        #expect(events.filter { $0.time < written }.count >= 15)
        for e in events where e.time < written {
            #expect(md.contains("| mha-backup | \(e.hook) \(e.phase): \(e.action)"), "no row for \(e.hook) \(e.phase) \(e.action)")
        }
        #expect(md.contains("## Problems and what to do next\n\nNone."), "\(md.components(separatedBy: "## Problems").last ?? "")")

        // The command renders the same page.
        let cli = try lab.run(["audit", "--last", "--report"])
        #expect(cli.code == 0, "\(cli.stderr)")
        #expect(cli.stdout.hasPrefix("# Failover \(lab.h1) → \(lab.h2): succeeded\n"))
        #expect(cli.stdout.contains("- **Detection to writable new master:** \(Int(wAt.timeIntervalSince(downAt).rounded())) s"))
    }
}
