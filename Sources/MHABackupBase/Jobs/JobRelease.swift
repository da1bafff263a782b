import FoundationEssentials
import Glibc
import Dispatch

/// What an aborted job leaves behind, released: its tool on the source (and scratch folder), and its
/// server connections with their backup locks. Used by `jobs abort`, the backup engine and the hooks.
public enum JobRelease {
    public static func releaseSource(source: MHAServer, job: JobRecord, config: BackupConfig, runner: ProcessRunner) {
        // The tool on the source and its server connections go at the same time: the KILL is what
        // frees the lock, the remote kill makes sure the tool does not take it again.
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { killRemoteTool(source: source, job: job, config: config, runner: runner) }
        releaseServerLocks(source: source, job: job, config: config)
        group.wait()
    }

    /// The tool's scratch folder on the source (`--target-dir`, `--extra-lsndir`).
    public static func remoteScratch(_ id: String, config: BackupConfig) -> String { "\(config.remoteTmpdir)/mha-backup-\(id)" }

    /// Kills the tool's remote process group on its source (bounded by the ssh connect timeout).
    public static func killRemoteTool(source: MHAServer, job: JobRecord, config: BackupConfig, runner: ProcessRunner) {
        guard let rp = job.remotePid, SafeName.isValid(job.id, .id), let ssh = try? SSHTarget(server: source, config: config) else { return }
        // Its scratch folder goes too (rm succeeds when it is already gone).
        let cmd = RemoteCommand.and(RemoteCommand(["rm", "-rf", "--", remoteScratch(job.id, config: config)]),
                                    RemoteCommand(["kill", "-KILL", "--", "-\(rp)"]))
        _ = try? runner.run(ssh.command(cmd), timeout: TimeInterval(config.sshConnectTimeout + 5))
    }

    /// Kills the backup user's server connections on the source (their backup locks go with them)
    /// and restarts a replica SQL thread the tool had stopped. Two client calls, and up to three
    /// more (version, replica status, restart) after a tool that may have stopped the SQL thread.
    public static func releaseServerLocks(source: MHAServer, job: JobRecord, config: BackupConfig) {
        let client = MySQLClient(server: source, config: config)
        if let user = credentialsUser(config.credentials) {
            let sql = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = \(sqlQuote(user)) AND ID <> CONNECTION_ID() AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID')"
            let ids = ((try? client.query(sql)) ?? []).compactMap { $0.first("ID").flatMap { Int($0) } }
            if !ids.isEmpty {
                // One client call; --force goes on past a connection that is already gone.
                _ = try? client.execute(ids.map { "KILL \($0);" }.joined(separator: " "), extra: ["--force"])
            }
        }
        // The tool stops the SQL thread early (before it says so): restart it when it is found
        // stopped without an error of its own.
        // In the server's own spelling: MySQL 8.4 has no SHOW SLAVE STATUS / START SLAVE.
        if job.restartReplicaSQLOnAbort == true {
            let version = (try? client.scalar("SELECT @@version")).flatMap(ServerVersion.init)
            if let row = (try? client.query(version?.replicaStatusSQL ?? "SHOW SLAVE STATUS"))?.first,
               let sql = ReplicaStatus(row: row)?.sqlThreadRestart(version: version) {
                _ = try? client.execute(sql)
            }
        }
    }
}

/// The `user` of a client option file's [client] (or [mysql], [client-server]) group.
public func credentialsUser(_ path: String) -> String? {
    guard let ini = try? INIFile.load(path, inlineComments: false) else { return nil }
    for g in ["client", "mysql", "client-server", "mariadb-client"] {
        if let u = ini.section(g)?.value("user") { return MHAAppConfig.mhaValue(u) }
    }
    return nil
}

public func sqlQuote(_ s: String) -> String {
    "'" + s.replacing("\\", with: "\\\\").replacing("'", with: "''") + "'"
}

public func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var i = 0
    while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
    return i == 0 ? "\(n) B" : "\(oneDecimal(v)) \(units[i])"
}

