import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// What a failover (or switch) does to one running job. Pure: unit-tested without servers.
public enum QuiesceDecision: Equatable, Sendable {
    case pause
    case alreadyPaused
    case abort(why: String)

    /// - onDeadMaster: the job's source is the failed (or switched-away) master.
    /// - switchover: the old master stays alive; only lock holders are aborted there.
    public static func decide(_ j: JobRecord, onDeadMaster: Bool, switchover: Bool,
                              onFailover: BackupConfig.HookSettings.OnFailover) -> QuiesceDecision {
        if onDeadMaster && !switchover { return .abort(why: "its source is the failed master") }
        if j.phase == .locking { return .abort(why: "it holds backup locks") }
        // A job whose tool has not started has nothing to pause: it would start after the quiesce
        // on the old topology. Its owner is told to stop (it records the job aborted).
        if j.pgid <= 0 { return .abort(why: "its tool had not started yet (\(j.phase.rawValue))") }
        if onFailover == .abort { return .abort(why: "on_failover = abort") }
        return j.state == .paused ? .alreadyPaused : .pause
    }
}
