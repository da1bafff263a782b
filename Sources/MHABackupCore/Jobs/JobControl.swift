import Foundation
import MHABackupBase

/// Pause, resume and abort of registered jobs. Pause is SIGSTOP of the tool's process group here
/// and of the remote shell's group on the source host; abort also kills the tool's server
/// connections so no backup lock outlives it, and restarts a replica SQL thread the tool stopped.
public struct JobControl: Sendable {
    public var ctx: Context
    public var runner = ProcessRunner()

    public init(ctx: Context) { self.ctx = ctx }

    var registry: JobRegistry { JobRegistry(dir: ctx.config.jobsDir, clock: ctx.clock) }

    func remoteSignal(_ job: JobRecord, _ sig: String) {
        Self.signalRemote(job, sig, ctx: ctx, runner: runner)
    }

    /// `kill -SIG -- -PGID` of the job's remote process group on its source, over ssh, bounded by
    /// the connect timeout. False when the job has no remote group or ssh did not do it.
    @discardableResult
    static func signalRemote(_ job: JobRecord, _ sig: String, ctx: Context, runner: ProcessRunner) -> Bool {
        guard let rp = job.remotePid, let server = ctx.mha.server(named: job.sourceHost),
              let ssh = try? SSHTarget(server: server, config: ctx.config) else { return false }
        let r = try? runner.run(ssh.command(RemoteCommand(["kill", "-\(sig)", "--", "-\(rp)"])),
                                timeout: TimeInterval(ctx.config.sshConnectTimeout + 5))
        return r?.succeeded == true
    }

    func requireLive(_ id: String) throws -> JobRecord {
        let j = try registry.load(id)
        guard ProcessRunner.isAlive(j.pid) else {
            throw MBError(.noInput, "job \(q(id)) is not running (its process \(j.pid) is gone)")
        }
        return j
    }

    public func pause(_ id: String) throws {
        let j = try requireLive(id)
        guard j.state == .running || j.state == .paused else { throw MBError.failed("job \(q(id)) is \(j.state.rawValue), cannot pause") }
        guard j.pgid > 0 else { throw MBError.failed("job \(q(id)) has not started its tool yet; try again") }
        remoteSignal(j, "STOP")
        kill(-j.pgid, SIGSTOP)
        try registry.update(id) { $0.state = .paused }
    }

    public func resume(_ id: String) throws {
        let j = try requireLive(id)
        guard j.state == .paused || j.state == .running else { throw MBError.failed("job \(q(id)) is \(j.state.rawValue), cannot resume") }
        remoteSignal(j, "CONT")
        if j.pgid > 0 { kill(-j.pgid, SIGCONT) }
        try registry.update(id) { $0.state = .running }
    }

    /// Aborts at once: kills the tool here and on the source, kills its server connections, then
    /// lets the owner record the abort (or records it itself when the owner is gone).
    public func abort(_ id: String, ownerWait: TimeInterval = 15) throws {
        let j = try registry.load(id)
        try? registry.update(id) { $0.state = .aborting }
        if j.pgid > 0 {
            kill(-j.pgid, SIGCONT)
            kill(-j.pgid, SIGKILL)
        }
        if let server = ctx.mha.server(named: j.sourceHost) {
            JobRelease.releaseSource(source: server, job: j, config: ctx.config, runner: runner)
        }
        if ProcessRunner.isAlive(j.pid) && j.pid != getpid() {
            kill(j.pid, SIGTERM)
            let end = Date().addingTimeInterval(ownerWait)
            while Date() < end && ProcessRunner.isAlive(j.pid) { usleep(20_000) }
        }
        // The owner is gone (or never answered): record the abort ourselves.
        let catalog = Catalog(dir: ctx.config.backupsDir)
        if let bid = j.backupId, var m = try? catalog.load(bid, activeJobs: [bid]), m.status == .running {
            m.status = .aborted
            m.finishedAt = ctx.clock.now()
            m.message = "aborted"
            try? catalog.write(m)
        }
        if !ProcessRunner.isAlive(j.pid) { registry.remove(id) }
    }
}
