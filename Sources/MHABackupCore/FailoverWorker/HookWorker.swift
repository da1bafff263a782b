import Foundation
import MHABackupBase

/// The detached half of the hooks: what takes longer than MHA's critical path may wait for.
/// Started by a hook as `mha-backup hook-worker TASK --failover ID`, in its own session, with no
/// descriptor of MHA's. Every step goes to the audit trail under the failover's id.
public final class HookWorker: @unchecked Sendable {
    let ctx: Context
    let record: FailoverRecord
    package let store: FailoverStore
    package let audit: AuditLog
    let task: WorkerRequest.Task
    let runner = ProcessRunner()
    /// A salvage result that could not be written to the failover record (a full state folder).
    public internal(set) var unrecorded: String?

    public init(ctx: Context, failoverId: String, task: WorkerRequest.Task) throws {
        self.ctx = ctx
        self.task = task
        store = FailoverStore(stateDir: ctx.config.stateDir, clock: ctx.clock)
        guard let r = store.load(failoverId) else {
            throw MBError(.noInput, "no failover record \(q(failoverId)) in \(q(store.dir))")
        }
        record = r
        audit = AuditLog(path: ctx.config.auditPath)
    }

    func log(_ action: String, host: String? = nil, outcome: AuditOutcome, started: Date? = nil, message: String? = nil) {
        let now = ctx.clock.now()
        audit.append(AuditEvent(time: now, failoverId: record.id, hook: "worker", phase: task.rawValue, action: action, host: host,
                                outcome: outcome, durationMs: started.map { Int(now.timeIntervalSince($0) * 1000) }, message: message))
        print("\(iso8601(now)) \(record.id) \(task.rawValue): \(action)\(host.map { " \($0)" } ?? ""): \(outcome)\(message.map { " — \($0)" } ?? "")")
    }

    /// An alert from the worker: audited, `alerts.jsonl`, the alert command; once per failover and kind.
    func alert(_ severity: AlertSeverity, _ summary: String, kind: AlertKind) {
        let sent = Alerts.raise(config: ctx.config, severity: severity, kind: kind, summary: summary, failoverId: record.id,
                                now: ctx.clock.now())
        log("alert", outcome: sent ? .warning : .skipped, message: "\(severity.rawValue): \(summary)\(sent ? "" : " (already raised for this failover)")")
    }

    func isDead(_ host: String) -> Bool {
        let d = record.deadMaster
        return host == d.host || host == d.address || ctx.mha.server(named: host).map { $0.hostname == d.host || $0.ip == d.address } == true
    }

    func remoteSignal(_ job: JobRecord, _ sig: String) -> Bool {
        JobControl.signalRemote(job, sig, ctx: ctx, runner: runner)
    }

}
