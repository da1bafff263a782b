import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// shutdown_script `--command=stop|stopssh`: the salvage before a power manager, or our own kill of
/// mysqld over ssh proven by the port (exit 10 only when known true).
extension HookRunner {
    func shutdown(ssh: Bool) -> Int32 {
        guard let ctx = h.ctx else { return 0 }
        let rec = openRecord(kind: .failover)
        if ssh {
            if chainPath != nil {
                // A power manager may switch the host off: the salvage must be done first.
                waitForSalvage(ctx: ctx, record: rec)
            } else {
                // We only stop mysqld: the host stays up and the salvage goes on beside MHA.
                ensureSalvageStarted(ctx: ctx, record: rec)
            }
        }
        if let p = chainPath {
            if h.dryRun { return dryRunChain(p) }
            return finishChain(startChain(), default: 0)
        }
        return fenceOldMaster(ssh: ssh)
    }

    /// Without a power manager: kill mysqld over ssh, then prove it stopped before telling MHA so.
    /// Exit 10 only when the kill worked and nothing answers on the port any more (MHA then saves
    /// and applies the dead master's binlog; exit 0 would make it skip that and lose rows).
    /// A master that still answers SQL aborts the failover unless `on_fence_failure = proceed`.
    func fenceOldMaster(ssh: Bool) -> Int32 {
        guard let m = args.origMaster else {
            h.record("stop mysqld", outcome: .failed, exitCode: 1, message: "no --host from MHA: nothing to stop")
            return 1
        }
        let policy = config?.hooks.onFenceFailure ?? .abort
        let t0 = Date()
        let kill: ShutdownDecision.Kill
        if h.dryRun {
            let reach = ssh ? sshReachable(m) : .notAttempted("MHA found the host unreachable over ssh (--command=stop)")
            let predicted = ShutdownDecision.decide(kill: reach, probe: reach == .done ? .init(portAnswers: false, sqlAnswers: false) : probeOldMaster(m, wait: 0),
                                                    policy: policy)
            h.say("plan: \(ssh ? "kill mysqld on \(m.host) over ssh, then check that nothing answers on its port" : "nothing to kill (no ssh); check its port"): "
                  + predicted.message.replacing("mysqld killed over ssh", with: "ssh reaches it"))
            h.record("dry run", outcome: .planned, exitCode: predicted.exitCode)
            return predicted.exitCode
        }
        kill = ssh ? killOverSSH(m) : .notAttempted("MHA found the host unreachable over ssh (--command=stop)")
        let probe = probeOldMaster(m, wait: kill == .done ? 3 : 0)
        let r = ShutdownDecision.decide(kill: kill, probe: probe, policy: policy)
        h.record("stop mysqld", host: m.host, outcome: r.state == .stopped ? .ok : .failed, started: t0, exitCode: r.exitCode,
                 message: r.message)
        if r.alert {
            h.alert(.critical, "shutdown_script on \(m.host): \(r.message)", kind: .oldMasterNotStopped, key: r.state.rawValue)
        }
        return r.exitCode
    }

    /// ssh to the old master as MHA does: its `--ssh_options` split as its shell splits them
    /// (ProxyCommand and jump hosts included), batch mode, a connect timeout.
    func sshTarget(_ m: HookServer) -> Result<SSHTarget, ShutdownDecision.Kill> {
        let host = m.sshIP ?? m.sshHost ?? m.address
        let user = args["ssh_user"] ?? m.sshUser ?? "root"
        guard HostName.isValid(host) else { return .failure(.notAttempted("invalid host \(q(host)) from MHA: no ssh")) }
        guard (try? HostName.validateUser(user, what: "ssh_user")) != nil else {
            return .failure(.notAttempted("invalid --ssh_user \(q(user)) from MHA: no ssh"))
        }
        guard let mhaOpts = ShellWords.split(args["ssh_options"] ?? "") else {
            return .failure(.notAttempted("--ssh_options has an unbalanced quote: no ssh"))
        }
        let opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(config?.sshConnectTimeout ?? 5)"] + mhaOpts
        return .success(SSHTarget(user: user, host: host, port: m.sshPort ?? 22, options: opts))
    }

    /// The target with the master connection's client options first, when `control_master = yes`.
    func overMux(_ t: SSHTarget) -> SSHTarget {
        guard let c = config, c.sshControlMaster else { return t }
        var m = t
        m.options = SSHMux(stateDir: c.stateDir).clientOptions(for: t) + t.options
        return m
    }

    func killOverSSH(_ m: HookServer) -> ShutdownDecision.Kill {
        let ssh: SSHTarget
        switch sshTarget(m) {
        case .failure(let k): return k
        case .success(let s): ssh = overMux(s)
        }
        // The pid file MHA knows (master_pid_file), else every mysqld/mariadbd on that host.
        let remote: RemoteCommand
        if let pf = args["pid_file"], !pf.isEmpty {
            remote = RemoteCommand(["pkill", "-9", "-F", pf])
        } else {
            remote = RemoteCommand(["pkill", "-9", "-x", "mariadbd|mysqld|mysqld_safe|mariadbd-safe"])
        }
        guard let r = h.effects.ssh(ssh, remote, timeout: TimeInterval((config?.sshConnectTimeout ?? 5) + 10)) else {
            return .sshFailed("ssh could not be started")
        }
        let rc = r.stages.first?.exitCode
        if r.timedOut || rc == nil || rc == 255 { return .sshFailed(r.failureSummary) }
        // pkill: 0 killed, 1 nothing matched (already dead): both leave mysqld stopped.
        if rc == 0 || rc == 1 { return .done }
        return .failed(r.failureSummary)
    }

    /// For a rehearsal: does ssh reach the old master (`true` over ssh)?
    func sshReachable(_ m: HookServer) -> ShutdownDecision.Kill {
        switch sshTarget(m) {
        case .failure(let k): return k
        case .success(let ssh):
            let r = h.effects.ssh(overMux(ssh), RemoteCommand(["true"]), timeout: TimeInterval((config?.sshConnectTimeout ?? 5) + 5))
            return r?.succeeded == true ? .done : .sshFailed(r?.failureSummary ?? "ssh could not be started")
        }
    }

    /// Waits up to `wait` seconds for the port to stop answering, then asks SQL if it is open.
    func probeOldMaster(_ m: HookServer, wait: TimeInterval) -> ShutdownDecision.Probe {
        let server = h.ctx?.mha.server(named: m.host) ?? h.ctx?.mha.server(named: m.address)
        let port = m.port ?? server?.port ?? 3306
        let addr = server?.address ?? m.address
        let end = Date().addingTimeInterval(wait)
        var open = h.effects.portAnswers(host: addr, port: port, timeout: 1)
        while open, Date() < end {
            usleep(100_000)
            open = h.effects.portAnswers(host: addr, port: port, timeout: 1)
        }
        guard open else { return .init(portAnswers: false, sqlAnswers: false) }
        guard let c = config else { return .init(portAnswers: true, sqlAnswers: true) }
        return .init(portAnswers: true, sqlAnswers: h.effects.sqlAnswers(host: addr, port: port, credentials: c.credentials))
    }

    /// A new salvage attempt, unless one runs with a live worker (then that one is joined).
    func beginSalvage(ctx: Context, id: String) -> (attempt: Int, start: Bool)? {
        do {
            let a = try FailoverStore(stateDir: ctx.config.stateDir, clock: h.clock).beginSalvage(id)
            h.record(a.start ? "salvage attempt \(a.attempt)" : "salvage attempt \(a.attempt) joined", host: args.origMaster?.host,
                     outcome: .ok, message: a.start ? "worker to start" : "its worker is running", quiet: true)
            return a
        } catch {
            trouble("start salvage", host: args.origMaster?.host, "\(error)", severity: .critical, kind: .salvageFailed)
            return nil
        }
    }

    /// Starts the salvage when master_ip_failover (not ours, or not configured) did not.
    @discardableResult
    func ensureSalvageStarted(ctx: Context, record rec: FailoverRecord?) -> Int? {
        guard let id = rec?.id, !h.dryRun, let a = beginSalvage(ctx: ctx, id: id) else { return nil }
        if a.start { _ = h.spawnWorker(WorkerRequest(.afterStop, failoverId: id, salvage: true, attempt: a.attempt, salvageOnly: true)) }
        return a.attempt
    }

    /// Waits (bounded by `salvage_wait`) for this run's salvage attempt: never for an old result,
    /// and a worker that died (pid and start time) ends the wait at once.
    func waitForSalvage(ctx: Context, record rec: FailoverRecord?) {
        guard let id = rec?.id else { return }
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        if h.dryRun {
            h.say("plan: wait up to \(Int(ctx.config.hooks.salvageWait)) s for the binlog salvage to finish")
            return
        }
        guard var mine = ensureSalvageStarted(ctx: ctx, record: rec) else { return }
        let t0 = Date()
        let end = t0.addingTimeInterval(ctx.config.hooks.salvageWait)
        var state = store.load(id)?.salvage
        while let s = state, s.state == .running, Date() < end {
            // A newer attempt (an operator's re-run) supersedes ours: follow it.
            if s.attempt > mine { mine = s.attempt }
            if !s.isLive(now: h.clock.now()) {
                state?.state = .failed
                state?.message = s.workerPid.map { "worker \($0) died" } ?? "the salvage worker never started"
                break
            }
            usleep(50_000)
            state = store.load(id)?.salvage
        }
        switch state?.state {
        case .done?:
            h.record("wait for salvage", host: args.origMaster?.host, outcome: .ok, started: t0,
                     message: "attempt \(mine): \(state?.files.count ?? 0) file(s), last \(state?.lastFile ?? "-"):\(state?.lastPosition.map(String.init) ?? "-")")
        case .running?:
            trouble("wait for salvage", host: args.origMaster?.host, "still running after salvage_wait = \(Int(ctx.config.hooks.salvageWait)) s; continuing", kind: .salvageIncomplete)
        default:
            trouble("wait for salvage", host: args.origMaster?.host, state?.message ?? "salvage failed", severity: .critical, kind: .salvageFailed)
        }
    }
}
