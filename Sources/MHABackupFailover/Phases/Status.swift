import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// `--command=status` of master_ip_failover, shutdown_script and master_ip_online_change: checks
/// the wiring before any failover; changes nothing.
extension HookRunner {
    /// Misconfiguration is caught here, before any failover: exit 1 with a one-line reason.
    /// Changes nothing.
    func status() -> Int32 {
        guard let ctx = h.ctx else { return 1 }
        var problems: [String] = []
        if let c = args["chain"], !c.isEmpty, !c.hasPrefix("/") {
            problems.append("--chain=\(q(c)) must be an absolute path")
        }
        if let p = chainPath, !FileManager.default.isExecutableFile(atPath: p) {
            problems.append("chained \(h.kind.rawValue) script \(q(p)) is not executable")
        }
        if let m = args.origMaster, ctx.mha.server(named: m.host) == nil && ctx.mha.server(named: m.address) == nil {
            problems.append("master \(q(m.host)) is not a server in \(q(ctx.mha.path)) (mha_conf of \(q(ctx.config.path)))")
        }
        if !FileManager.default.isExecutableFile(atPath: "\(h.binDir)/mha-backup") {
            problems.append("the worker \(q(h.binDir + "/mha-backup")) is missing")
        }
        for dir in [ctx.config.stateDir, ctx.config.storeDir] {
            if !FileManager.default.fileExists(atPath: dir) {
                if (try? AtomicFile.makeDirectory(dir, mode: 0o750)) == nil {
                    problems.append("cannot create \(q(dir))")
                }
            } else if access(dir, W_OK) != 0 {
                problems.append("\(q(dir)) is not writable")
            }
        }
        if let p = problems.first {
            eprint("mha-backup \(h.kind.rawValue) status: \(p)\(problems.count > 1 ? " (and \(problems.count - 1) more)" : "")")
            return 1
        }
        if h.dryRun { h.say("plan: status check only (changes nothing)") }
        openMasterConnection(ctx)
        guard let c = chainPath, !h.dryRun else { return 0 }
        let r = ChainRun(path: c, argv: chainArgv, timeout: 60).wait()
        return r
    }

    /// shutdown_script's status (at manager start) opens the ssh connection its kill will use in
    /// a failover (`[ssh] control_master`), detached: this call does not wait for it.
    func openMasterConnection(_ ctx: Context) {
        guard h.kind == .shutdown, ctx.config.sshControlMaster, !h.dryRun, let m = args.origMaster,
              case .success(let t) = sshTarget(m) else { return }
        switch SSHMux(stateDir: ctx.config.stateDir).ensure(t, runner: h.runner) {
        case .alreadyLive: break
        case .started(let pid):
            h.record("ssh connection to the master", host: t.host, outcome: .ok, message: "opening (pid \(pid)) for shutdown_script's kill", quiet: true)
        case .failed(let e):
            h.record("ssh connection to the master", host: t.host, outcome: .warning, message: "not opened: \(e); the kill connects on its own", quiet: true)
        }
    }
}
