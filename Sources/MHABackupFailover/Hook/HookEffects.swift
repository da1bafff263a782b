import FoundationEssentials
import Glibc
import MHABackupBase

/// What a hook does to the world outside its state folder, behind one protocol: signals to our
/// jobs, the detached worker, ssh to the old master, the port and SQL probes, the promotion read,
/// the release of a job's server locks. The phases decide; `SystemEffects` acts; the unit tests
/// pass a recording fake and check what each phase and wiring would do (gh-ost's recordingHooks).
/// State files (record, fence, registry, timeline, audit) stay real: tests use a temp folder.
package protocol HookEffects: AnyObject, Sendable {
    func signalGroup(_ pgid: pid_t, _ sig: Int32)
    func signalProcess(_ pid: pid_t, _ sig: Int32)
    /// Starts `argv` detached (its own session), output appended to `logFile`.
    func spawnDetached(_ argv: [String], logFile: String) throws -> pid_t
    func ssh(_ target: SSHTarget, _ command: RemoteCommand, timeout: TimeInterval) -> PipelineResult?
    func portAnswers(host: String, port: Int, timeout: TimeInterval) -> Bool
    func sqlAnswers(host: String, port: Int, credentials: String) -> Bool
    func readPromotion(server: MHAServer, config: BackupConfig, timeout: TimeInterval) -> Promotion.Read
    func releaseServerLocks(source: MHAServer, job: JobRecord, config: BackupConfig)
}

/// The real effects.
package final class SystemEffects: HookEffects, @unchecked Sendable {
    let runner = ProcessRunner()
    package init() {}

    package func signalGroup(_ pgid: pid_t, _ sig: Int32) { kill(-pgid, sig) }
    package func signalProcess(_ pid: pid_t, _ sig: Int32) { kill(pid, sig) }

    package func spawnDetached(_ argv: [String], logFile: String) throws -> pid_t {
        try ProcessRunner.spawnDetachedThroughSetsid(Command(argv), logFile: logFile)
    }

    package func ssh(_ target: SSHTarget, _ command: RemoteCommand, timeout: TimeInterval) -> PipelineResult? {
        try? runner.run(target.command(command), timeout: timeout)
    }

    package func portAnswers(host: String, port: Int, timeout: TimeInterval) -> Bool {
        TCPProbe.answers(host: host, port: port, timeout: timeout)
    }

    package func sqlAnswers(host: String, port: Int, credentials: String) -> Bool {
        (try? MySQLClient(host: host, port: port, credentials: credentials, connectTimeout: 2, timeout: 3).scalar("SELECT 1")) != nil
    }

    package func readPromotion(server: MHAServer, config: BackupConfig, timeout: TimeInterval) -> Promotion.Read {
        Promotion.read(server: server, config: config, timeout: timeout)
    }

    package func releaseServerLocks(source: MHAServer, job: JobRecord, config: BackupConfig) {
        JobRelease.releaseServerLocks(source: source, job: job, config: config)
    }
}
