import Foundation
import MHABackupBase
import MHABackupFailover

/// The detached half of master_ip_failover stop/stopssh (`Phases/FailoverStop.swift` in
/// MHABackupFailover): the salvage first, the foreign-lock watch beside it, then the remote pauses.
extension HookWorker {
    public func afterStop(salvageAttempt: Int?, salvageOnly: Bool = false) {
        let reg = JobRegistry(dir: ctx.config.jobsDir, clock: ctx.clock)
        // Foreign lock holders make MHA wait with no bound: watched from the first moment, beside
        // the salvage (which may take minutes).
        let watch = salvageOnly ? nil : startForeignLockWatch()
        defer { watch?.wait() }
        // Salvage first: it is what shutdown_script waits for.
        if let a = salvageAttempt { runSalvage(attempt: a) }
        if salvageOnly { return }
        for id in record.pausedJobs {
            // Checked and stopped under the registry's lock, as the report's resume marks the job
            // running under it before its CONT: a STOP can never land after that CONT (a failover
            // MHA aborted at once is reported while this worker still salvages).
            var job: JobRecord?
            var ok = false
            let t0 = Date()
            _ = try? reg.withLock(timeout: 30) {
                guard let j = try? reg.load(id), j.state == .paused else { return }
                job = j
                ok = remoteSignal(j, "STOP")
            }
            guard let j = job else { continue }
            log("pause job \(id) on its source", host: j.sourceHost, outcome: ok ? .ok : .skipped, started: t0,
                message: ok ? "remote process group \(j.remotePid ?? 0) stopped" : "no remote process to stop")
            if !ok, let rp = j.remotePid {
                alert(.warning, "job \(id) would not pause on \(j.sourceHost): its tool (process group \(rp)) was not stopped", kind: .jobNotPaused)
            }
        }
        for id in (store.load(record.id) ?? record).abortedJobs {
            guard let j = try? reg.load(id) ?? nil else { continue }
            let t0 = Date()
            let ok = remoteSignal(j, "KILL")
            log("kill job \(id)'s tool on its host", host: j.sourceHost, outcome: ok ? .ok : .skipped, started: t0,
                message: ok ? nil : "host unreachable or tool gone")
        }
    }
}
