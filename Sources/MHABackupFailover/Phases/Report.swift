import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// report_script: names the new master, starts the detached worker that finishes the failover
/// (`FailoverWorker/Report+Worker.swift` in MHABackupCore), passes on the site's report.
extension HookRunner {
    /// A report for a failover already reported (an operator's or MHA's re-run): the closed record
    /// of the same dead and new master, closed within `failover_ttl`.
    func alreadyReported() -> FailoverRecord? {
        guard let ctx = h.ctx, let dead = args.origMaster else { return nil }
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        if store.open != nil { return nil }
        guard let last = store.all().last, last.status != .open, let closed = last.closedAt,
              h.clock.now().timeIntervalSince(closed) < ctx.config.hooks.failoverTTL,
              last.deadMaster.host == dead.host || last.deadMaster.address == dead.address,
              last.newMaster?.host == args.newMaster?.host else { return nil }
        return last
    }

    func report() -> Int32 {
        let success = args.newMaster != nil
        if let done = alreadyReported() {
            // A second call of the same phase does no harm: no new record, fence or full backup.
            h.failoverId = done.id
            h.record("report again", host: done.deadMaster.host, outcome: .skipped,
                     message: "failover \(done.id) was reported and closed (\(done.status.rawValue)) \(Int(h.clock.now().timeIntervalSince(done.closedAt ?? done.openedAt))) s ago; nothing to do",
                     withArgs: true)
            return finishChain(startChain(environment: reportEnvironment(done.id, write: false)), default: 0)
        }
        let rec = openRecord(kind: .failover)
        if h.ctx != nil {
            if h.dryRun {
                h.say(success
                      ? "plan: archive MHA's saved binlogs, re-point backups and the stream to \(args.newMaster!.host), resume or abort paused jobs, lift the fence, start a full backup"
                      : "plan: failover failed: lift the fence, resume what is still valid, alert")
            } else if let rec {
                if let n = args.newMaster, rec.newMaster == nil, let ctx = h.ctx {
                    // The record may have been opened by shutdown_script only: name the new master now.
                    try? FailoverStore(stateDir: ctx.config.stateDir).update(rec.id) { if $0.newMaster == nil { $0.newMaster = n } }
                }
                let w = WorkerRequest(.afterReport, failoverId: rec.id, conf: args["conf"], success: success)
                if let pid = h.spawnWorker(w) {
                    h.record("worker started", outcome: .ok, message: "pid \(pid): \(w.argv.joined(separator: " "))", quiet: true)
                }
            }
            if !success && !h.dryRun {
                h.alert(.critical, "MHA failover of \(args.origMaster?.host ?? "?") failed", details: args["body"] ?? "", kind: .failoverFailed)
            }
        }
        // Written here only for a chained script to read (the worker writes the final one anyway).
        return finishChain(startChain(environment: rec.flatMap { h.dryRun || chainPath == nil ? nil : reportEnvironment($0.id, write: true) } ?? [:]),
                           default: 0)
    }

    /// `MHA_BACKUP_REPORT` for the chained report script: the incident report, written now from
    /// what is known (preliminary; the worker rewrites it when the failover is closed).
    func reportEnvironment(_ id: String, write: Bool) -> [String: String] {
        guard let ctx = h.ctx else { return [:] }
        let p = FailoverReportFile.path(stateDir: ctx.config.stateDir, id: id)
        if write {
            let t0 = Date()
            let ok = FailoverReportFile.write(ctx: ctx, failoverId: id, now: h.clock.now()) != nil
            h.record("incident report", outcome: ok ? .ok : .failed, started: t0, message: ok ? "preliminary: \(p)" : "could not write \(p)", quiet: true)
            if !ok { return [:] }
        }
        return FileManager.default.fileExists(atPath: p) ? [FailoverReportFile.environmentVariable: p] : [:]
    }
}
