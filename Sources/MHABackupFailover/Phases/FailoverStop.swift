import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// master_ip_failover `--command=stop|stopssh`: MHA's phase 2 begins. Opens the failover record and
/// the fence, pauses or aborts our jobs, stops the stream, and starts the detached worker (the
/// salvage and the remote pauses: `FailoverWorker/FailoverStop+Worker.swift` in MHABackupCore).
extension HookRunner {
    func failoverStop(ssh: Bool) -> Int32 {
        let chain = startChain()
        let rec = openRecord(kind: .failover)
        if let ctx = h.ctx, let dead = args.origMaster {
            quiesceJobs(ctx: ctx, dead: dead, abortLockingOnly: false)
            stopStream(ctx: ctx)
            if h.dryRun {
                h.say("plan: detached worker: pause jobs on their hosts, \(ctx.config.hooks.killForeignBackupLocks ? "kill" : "name") foreign backup locks\(ssh ? ", salvage \(dead.host)'s binlogs over ssh" : "")")
            } else if let rec {
                var w = WorkerRequest(.afterStop, failoverId: rec.id)
                // Marked before the spawn (a new attempt unless one runs); the worker records its pid.
                if ssh, let a = beginSalvage(ctx: ctx, id: rec.id), a.start {
                    w.salvage = true
                    w.attempt = a.attempt
                }
                if let pid = h.spawnWorker(w) {
                    h.record("worker started", outcome: .ok, message: "pid \(pid): \(w.argv.joined(separator: " "))", quiet: true)
                }
            }
        }
        return finishChain(chain, default: 0)
    }

    /// Pauses or aborts our running jobs. Aborted: those whose source is the failed master, those
    /// holding locks (locking phase, anywhere: a lock on a surviving server makes MHA wait with no
    /// bound), and all with `on_failover = abort`. The rest are paused. All within the critical path.
    func quiesceJobs(ctx: Context, dead: HookServer, abortLockingOnly: Bool) {
        let reg = JobRegistry(dir: ctx.config.jobsDir, clock: h.clock)
        let deadline = h.started.addingTimeInterval(ctx.config.hooks.criticalPath)
        typealias Decided = (job: JobRecord, decision: QuiesceDecision, onDead: Bool)
        func decide(_ jobs: [JobRecord]) -> [Decided] {
            jobs.map { j in
                let onDead = matches(j.sourceHost, dead)
                return (j, QuiesceDecision.decide(j, onDeadMaster: onDead, switchover: abortLockingOnly,
                                                  onFailover: ctx.config.hooks.onFailover), onDead)
            }
        }
        if h.dryRun {
            for d in decide(reg.active()) {
                let j = d.job
                switch d.decision {
                case .abort(let why): h.say("plan: abort job \(j.id) (\(j.kind.rawValue) \(j.method.rawValue) from \(j.sourceHost), \(j.phase.rawValue)): \(why)")
                case .pause, .alreadyPaused: h.say("plan: pause job \(j.id) (\(j.kind.rawValue) \(j.method.rawValue) from \(j.sourceHost), \(j.phase.rawValue))")
                }
            }
            return
        }
        // Under the registry's lock: the fence is already up, so a backup admitted after this sees
        // it, and one admitted before is in this list. Decided, marked and signalled in one hold.
        var decided: [Decided] = []
        var releases: [(JobRecord, MHAServer)] = []
        var aborted: [String] = []
        var paused: [String] = []
        do {
            try reg.withLock(timeout: max(0.2, deadline.timeIntervalSinceNow)) {
                decided = decide(reg.active())
                for d in decided {
                    let j = d.job
                    let t0 = Date()
                    switch d.decision {
                    case .abort(let why):
                        // "aborting" before the kill, so the owner records an abort, not a failure.
                        try? reg.update(j.id, locked: true) { $0.state = .aborting }
                        if j.pgid > 0 { h.effects.signalGroup(j.pgid, SIGCONT); h.effects.signalGroup(j.pgid, SIGKILL) } else { h.effects.signalProcess(j.pid, SIGTERM) }
                        if !d.onDead, j.pgid > 0, let s = ctx.mha.server(named: j.sourceHost) { releases.append((j, s)) }
                        aborted.append(j.id)
                        h.record("abort job \(j.id)", host: j.sourceHost, outcome: .ok, started: t0,
                                 message: why + (j.pgid > 0 ? "" : "; its owner (pid \(j.pid)) told to stop"))
                    case .alreadyPaused:
                        paused.append(j.id)
                        h.record("pause job \(j.id)", host: j.sourceHost, outcome: .skipped, message: "already paused")
                    case .pause:
                        h.effects.signalGroup(j.pgid, SIGSTOP)
                        try? reg.update(j.id, locked: true) { if $0.state == .running { $0.state = .paused } }
                        paused.append(j.id)
                        h.record("pause job \(j.id)", host: j.sourceHost, outcome: .ok, started: t0, message: "\(j.phase.rawValue), \(formatBytes(j.bytes))")
                    }
                }
            }
        } catch {
            trouble("pause jobs", "the job registry stayed locked: \(error)", kind: .jobNotPaused)
            return
        }
        if decided.isEmpty { return }
        if let id = h.failoverId {
            try? FailoverStore(stateDir: ctx.config.stateDir).update(id) { r in
                for j in paused where !r.pausedJobs.contains(j) { r.pausedJobs.append(j) }
                for j in aborted where !r.abortedJobs.contains(j) { r.abortedJobs.append(j) }
            }
        }
        // Locks on surviving servers go now: kill the tool there and its server connections, in parallel, bounded.
        if !releases.isEmpty {
            let group = DispatchGroup()
            for (j, s) in releases {
                DispatchQueue.global().async(group: group) { [h] in
                    let t0 = Date()
                    var c = ctx.config
                    c.clientTimeout = max(0.5, min(c.clientTimeout, deadline.timeIntervalSinceNow))
                    c.sshConnectTimeout = max(1, min(c.sshConnectTimeout, Int(deadline.timeIntervalSinceNow.rounded(.up))))
                    // Only what frees the lock, on MHA's path; the worker kills the tool on its host.
                    h.effects.releaseServerLocks(source: s, job: j, config: c)
                    h.record("release locks of job \(j.id)", host: s.hostname, outcome: .ok, started: t0,
                             message: "its server connections killed")
                }
            }
            if group.wait(timeout: .now() + max(0.1, deadline.timeIntervalSinceNow)) == .timedOut {
                trouble("release locks", "not finished within critical_path_seconds = \(Int(ctx.config.hooks.criticalPath)); continuing in the background")
            }
        }
    }

    func streamPid(_ ctx: Context) -> pid_t? {
        (try? String(contentsOfFile: ctx.config.streamPidPath, encoding: .utf8))
            .flatMap { pid_t($0.trimmed()) }
            .flatMap { ProcessRunner.isAlive($0) ? $0 : nil }
    }

    /// Stops the live binlog stream (it archives what it has and exits on SIGTERM).
    func stopStream(ctx: Context) {
        guard let pid = streamPid(ctx) else { return }
        if h.dryRun {
            h.say("plan: stop the binlog stream (pid \(pid)), keeping what it received")
            return
        }
        h.effects.signalProcess(pid, SIGTERM)
        if let id = h.failoverId {
            try? FailoverStore(stateDir: ctx.config.stateDir).update(id) { $0.streamWasRunning = true }
        }
        h.record("stop binlog stream", outcome: .ok, message: "pid \(pid) asked to archive what it received and stop")
    }
}
