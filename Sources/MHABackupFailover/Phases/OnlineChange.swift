import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// master_ip_online_change `stop|start`: an online switch; the old master stays alive.
extension HookRunner {
    func switchStop() -> Int32 {
        let chain = startChain()
        _ = openRecord(kind: .switchover)
        if let ctx = h.ctx, let orig = args.origMaster {
            // The old master stays alive: pause everything, abort only jobs holding locks
            // (MHA runs FLUSH TABLES WITH READ LOCK on it right after this).
            quiesceJobs(ctx: ctx, dead: orig, abortLockingOnly: true)
            stopStream(ctx: ctx)
        }
        return finishChain(chain, default: 0)
    }

    func switchStart() -> Int32 {
        let chain = startChain()
        let rec = openRecord(kind: .switchover)
        if let ctx = h.ctx, let new = args.newMaster {
            recordPromotion(ctx: ctx, new: new, record: rec, reason: "online switch")
            if h.dryRun {
                h.say("plan: resume paused jobs, restart the stream on \(new.host), lift the fence\(ctx.config.hooks.fullBackupAfterSwitch ? ", start a full backup" : "")")
            } else if let rec, let pid = h.spawnWorker(WorkerRequest(.afterSwitch, failoverId: rec.id)) {
                h.record("worker started", outcome: .ok, message: "pid \(pid)", quiet: true)
            }
        }
        return finishChain(chain, default: 0)
    }
}
