import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

/// The `mha-backup` command line: every subcommand, and the one place errors become exit codes.
public enum CLI {
    public static let usage = """
    usage: mha-backup [--config FILE] COMMAND ...
      check [--json]                          config, servers, ssh, tools and live topology
      backup full|incremental [--source HOST] [--method mariabackup|xtrabackup|dump] [--ignore-fence] [--wait S [--no-wait-fence]]
      list [--json]                           the catalog
      jobs [--json] | jobs pause|resume|abort ID
      binlog archive | binlog stream [--once-seconds N] | binlog stream --stop
      fence status|up|down [--ttl S] [--reason TEXT]
      audit [--failover ID | --last] [--json | --report]  one failover's story, in order (--report: Markdown for the incident review)
      salvage [--failover ID | --last]        redo a failover's binlog salvage (after a worker died or ssh failed)
      alerts deliver | raise --severity S --kind K --summary TEXT | list [--json]   webhook and mail delivery of alerts
      status [--json]                         fence, open failover, timeline, jobs, last backup, problems
      verify [ID | --all | --latest] [--level files|structure|restore] [--json]
      retention [--confirm] [--json] [--now TIME]   GFS, chain-safe pruning of backups and binlogs (dry run without --confirm)
      restore (--latest | --to-time T | --to-position [HOST:]FILE:POS | --to-gtid G | --backup ID) --target-dir DIR
              [--backup ID] [--port P --start] [--plan] [--json]   point-in-time restore across failovers
      drill --new-master HOST [--dead-master-ssh yes|no]   the failover sequence with today's topology (dry run)
      sandbox up|down|status|env|kill-master --host|--mysqld|failover --host|--mysqld|switch --new-master HOST
              [--base N: hosts 127.0.0.(N+1)..(N+3), default 10]
      tier sync [--tier warm|cold] [--dry-run] [--json]   move backups and binlogs to the remote tiers (rclone)
      catalog rebuild --from warm|cold [--json]           rebuild a lost manager host's catalog from a tier
      run full|incremental|binlog|verify|retention|tier [--ignore-gates] [--json]   what timers start: gates, then the command
      metrics [--stdout]                      write [metrics] metrics_file for Prometheus (local state only)
      exit-codes                              the table of exit codes
    config: --config FILE, else $MHA_BACKUP_CONFIG, else /etc/mha-backup/mha-backup.cnf
    """

    public static func main(_ argv: [String]) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        do {
            try dispatch(argv)
            return ExitCode.ok.rawValue
        } catch let e as MBError {
            eprint("mha-backup: \(e.message)")
            if let h = e.hint { eprint("HINT: \(h)") }
            return e.code.rawValue
        } catch let e as CommandExit {
            return e.code
        } catch {
            eprint("mha-backup: \(error)")
            return ExitCode.software.rawValue
        }
    }

    /// Leaves with a given code after the command printed its own report.
    public struct CommandExit: Error { public var code: Int32 }

    static func dispatch(_ argvIn: [String]) throws {
        var argv = argvIn
        var configPath: String? = nil
        // --config may stand before the command.
        while let first = argv.first, first.hasPrefix("--config") {
            if first == "--config" {
                guard argv.count >= 2 else { throw MBError.usage("option '--config' needs a value") }
                configPath = argv[1]
                argv.removeFirst(2)
            } else {
                configPath = String(first.dropFirst("--config=".count))
                argv.removeFirst()
            }
        }
        guard let cmd = argv.first else { throw MBError.usage("no command given\n\(usage)") }
        let rest = Array(argv.dropFirst())
        let env = ProcessInfo.processInfo.environment
        // A subcommand may also carry --config after its name.
        func ctx(_ args: Arguments) throws -> Context {
            let path = BackupConfig.resolvePath(explicit: args["config"] ?? configPath, environment: env)
            let c = try Context.load(configPath: path)
            // Not on the failover's path: the hook worker runs whatever the folders say.
            if cmd != "hook-worker" { try ClusterClaim.check(c.config) }
            return c
        }
        if try Usage.answer(cmd, rest) { return }
        switch cmd {
        case "-h", "--help", "help":
            print(usage)
        case "exit-codes":
            for c in ExitCode.allCases { print(String(format: "%3d  %@", c.rawValue, c.meaning)) }
        case "check":
            let a = try Arguments(rest, valued: ["config"], flags: ["json"])
            try CheckCommand.run(try ctx(a), json: a.has("json"))
        case "backup":
            let a = try Arguments(rest, valued: ["config", "source", "method", "compression", "job-id", "wait"],
                                  flags: ["ignore-fence", "json", "no-wait-fence"])
            try BackupCommand.run(try ctx(a), args: a)
        case "list":
            let a = try Arguments(rest, valued: ["config"], flags: ["json"])
            try ListCommand.run(try ctx(a), json: a.has("json"))
        case "jobs":
            let a = try Arguments(rest, valued: ["config"], flags: ["json"])
            try JobsCommand.run(try ctx(a), args: a)
        case "binlog":
            let a = try Arguments(rest, valued: ["config", "once-seconds", "source"], flags: ["json", "stop"])
            try BinlogCommand.run(try ctx(a), args: a)
        case "fence":
            let a = try Arguments(rest, valued: ["config", "ttl", "reason"], flags: ["json"])
            try FenceCommand.run(try ctx(a), args: a)
        case "verify":
            let a = try Arguments(rest, valued: ["config", "level"], flags: ["all", "latest", "json"])
            try VerifyCommand.run(try ctx(a), args: a)
        case "retention":
            let a = try Arguments(rest, valued: ["config", "now"], flags: ["confirm", "json"])
            try RetentionCommand.run(try ctx(a), args: a)
        case "restore":
            let a = try Arguments(rest, valued: ["config", "to-time", "to-position", "to-gtid", "target-dir", "port", "backup"],
                                  flags: ["latest", "start", "plan", "json", "keep-work"])
            try RestoreCommand.run(try ctx(a), args: a)
        case "drill":
            let a = try Arguments(rest, valued: ["config", "new-master", "dead-master-ssh"], flags: [])
            try DrillCommand.run(try ctx(a), args: a)
        case "status":
            let a = try Arguments(rest, valued: ["config"], flags: ["json"])
            try StatusCommand.run(try ctx(a), json: a.has("json"))
        case "hook-worker":
            let a = try Arguments(rest, valued: WorkerRequest.valuedOptions.union(["config"]), flags: WorkerRequest.flagOptions)
            try HookWorkerCommand.run(try ctx(a), args: a)
        case "salvage":
            let a = try Arguments(rest, valued: ["config", "failover"], flags: ["last"])
            try SalvageCommand.run(try ctx(a), args: a)
        case "audit":
            let a = try Arguments(rest, valued: ["config", "failover"], flags: ["last", "json", "report"])
            try AuditCommand.run(try ctx(a), args: a)
        case "run":
            let a = try Arguments(rest, valued: ["config"], flags: ["ignore-gates", "json"])
            try RunCommand.run(try ctx(a), args: a)
        case "metrics":
            let a = try Arguments(rest, valued: ["config"], flags: ["stdout"])
            try MetricsCommand.run(try ctx(a), args: a)
        case "alerts":
            let a = try Arguments(rest, valued: ["config", "severity", "kind", "summary", "details", "failover"], flags: ["background", "json"])
            try AlertsCommand.run(try ctx(a), args: a)
        case "tier":
            let a = try Arguments(rest, valued: ["config", "tier"], flags: ["dry-run", "json"])
            try TierCommand.run(try ctx(a), args: a)
        case "catalog":
            let a = try Arguments(rest, valued: ["config", "from"], flags: ["json"])
            try CatalogCommand.run(try ctx(a), args: a)
        case "sandbox":
            let a = try Arguments(rest, valued: ["root", "base", "new-master", "hooks-dir"], flags: ["host", "mysqld", "json"])
            try SandboxCommand.run(args: a)
        default:
            throw MBError.usage("unknown command \(q(cmd))\n\(usage)")
        }
    }
}
