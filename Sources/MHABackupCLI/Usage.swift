import MHABackupBase
import MHABackupFailover

/// The help of every `mha-backup` command, in one place: `mha-backup help CMD`, `mha-backup CMD --help`
/// and the man page (`mha-backup help --man`, which `scripts/package` turns into mha-backup.1) all
/// print from here. `CLI.usage` stays the one-screen summary; `UsageTests` checks that every command
/// it lists has an entry here.
public enum Usage {
    public struct Entry: Sendable {
        public var name: String
        public var synopsis: [String]
        public var text: String
    }

    public static let commands: [Entry] = [
        Entry(name: "check", synopsis: ["check [--json]"], text: """
        Reads the config and MHA's app.cnf, checks the local tools, then every server: SQL login with
        the credentials file, ssh, the tools each host needs (mariabackup or xtrabackup, the compressor,
        nice, ionice, mha4mysql-node), the live topology (one master), then a stale fence, a failover
        left unfinished and the catalog's master against the live one. Exit 0 when all is well, 2 with
        the problems listed, 77/78 for a config it cannot use.
        """),
        Entry(name: "backup", synopsis: ["backup full|incremental [--source replica|master|HOST] [--method mariabackup|xtrabackup|dump]",
                                         "       [--compression zstd|lz4|gzip|none] [--job-id ID] [--ignore-fence] [--wait S [--no-wait-fence]] [--json]"], text: """
        A physical (mariabackup/xtrabackup, streamed over ssh and compressed on the source) or logical
        (mariadb-dump/mysqldump) backup into the catalog. Default source: a healthy replica ([backup] source);
        an incremental builds on the last complete physical backup of the same source. The manifest
        (checksums, binlog position, GTID, timeline) and the COMMITTED marker are written last.
        --wait S waits up to S seconds for a free slot and for a raised failover fence to come down;
        without it a raised fence refuses at once (exit 75) and a busy source or max_parallel exits 76.
        --no-wait-fence (with --wait): wait for a slot only. --ignore-fence: start despite the fence.
        """),
        Entry(name: "list", synopsis: ["list [--json]"], text: """
        The catalog: every backup with its status (complete, partial, failed, aborted), type, method,
        source, timeline, size, last verification and binlog position. Only a complete backup (its
        COMMITTED marker matches the manifest) is ever restored or used as an incremental's parent.
        """),
        Entry(name: "jobs", synopsis: ["jobs [--json]", "jobs pause|resume|abort ID"], text: """
        The running backups (pid, process group, remote pid, phase, bytes). pause stops the tool on its
        host (SIGSTOP) and resume continues it; abort stops it and records the backup as aborted.
        """),
        Entry(name: "binlog", synopsis: ["binlog archive [--source HOST] [--json]",
                                         "binlog stream [--once-seconds N] [--source HOST] [--json]",
                                         "binlog stream --stop"], text: """
        archive: copies the master's closed binlogs into store_dir/binlogs/HOST_PORT/, each with its
        .sha256. stream: a live mariadb-binlog copy of the catalog's master that follows it across
        failovers (the hooks stop and restart it); --once-seconds N stops after N seconds; --stop stops
        the running stream (SIGTERM, waited for). mha-samples/systemd has a unit for the stream.
        """),
        Entry(name: "fence", synopsis: ["fence status|up|down [--ttl S] [--reason TEXT] [--json]"], text: """
        The failover fence: while it is up, backups refuse to start (exit 75). The hooks raise it at a
        failover and lift it in the report; up and down are for an operator. A fence older than its ttl
        ([backup] fence_ttl by default) is reported as stale.
        """),
        Entry(name: "tier", synopsis: ["tier sync [--tier warm|cold] [--dry-run] [--json]"], text: """
        Moves committed backups (data files, manifest, COMMITTED) and archived binlogs (with .sha256)
        from the hot store to [tier warm] once older than its 'after', and on to [tier cold], through
        rclone (configured in the environment only). Each remote copy is read back and its SHA-256
        compared with the manifest or .sha256 before the catalog records it; only then is the copy
        above it removed. Decides from the local catalog; --tier stops at that tier; --dry-run prints
        the moves. A remote that is down or full: exit 69, the hot copy kept; the next sync resumes.
        """),
        Entry(name: "catalog", synopsis: ["catalog rebuild --from warm|cold [--json]"], text: """
        Rebuilds the local catalog of a new manager host from a tier: backup manifests (kept only when
        their COMMITTED marker matches), the binlog indexes and .sha256 files, timeline.json and the
        failover records; the data stays remote and verify/restore fetch it (checked by SHA-256).
        Exit 65 when a remote manifest was rejected.
        """),
        Entry(name: "run", synopsis: ["run full|incremental|binlog|verify|retention|tier [--ignore-gates] [--json]"], text: """
        What the systemd timers and cron start (mha-samples/systemd, mha-samples/cron). First the gates
        of the kind ([schedule]): the failover fence (every kind), the MHA manager monitoring
        (masterha_check_status) and the source host's load and data-disk IO (full, incremental), this
        host's load (verify). A closed gate is checked again every gate_retry up to gate_give_up, then
        the run is recorded as "skipped: GATE" (state_dir/runs.jsonl, the audit trail, a run-skipped
        alert) and exits 75 (fence), 76 (load, IO) or 69 (manager). Then the command runs as a child:
        backup full, backup incremental, binlog archive, verify --latest --level structure,
        retention --confirm, tier sync; its exit code is the run's. Past its window_KIND a
        critical run-past-window alert (the run goes on); over slow_factor times the average of the
        last slow_runs runs a run-slow warning. --ignore-gates: for a person at the keyboard.
        """),
        Entry(name: "metrics", synopsis: ["metrics [--stdout]"], text: """
        Writes [metrics] metrics_file (node_exporter's textfile collector: temp file, fsync, rename)
        from local state only: the catalog, the binlog archive, the stream, verify results, failover
        records, the fence and the jobs; no server is contacted. --stdout prints the same text instead.
        backup, binlog, verify and the failover worker refresh it on their own when metrics_file is set.
        """),
        Entry(name: "audit", synopsis: ["audit [--failover ID | --last] [--json | --report]"], text: """
        One failover's story, in order: every hook phase and worker step with its start, end, outcome
        and exit code, from the append-only audit trail (secrets removed), and the time our hooks held
        MHA (each hook call's own wall time, summed). --report prints one page of Markdown for the
        incident review (MHA's log and our steps interleaved, the data at risk, the backups, the
        problems); the report worker writes it beside the failover record. Without an option: the
        last failover.
        """),
        Entry(name: "alerts", synopsis: ["alerts deliver [--background] [--json]",
                                         "alerts raise --severity info|warning|critical --kind K --summary TEXT [--details TEXT] [--failover ID]",
                                         "alerts list [--json]"], text: """
        Every alert goes to state_dir/alerts.jsonl first; with [alerts] webhook_url or mail_to it is
        then delivered by a detached 'alerts deliver' (curl -K - with the URL and headers on stdin;
        sendmail -t), retried with backoff and collapsed within repeat_interval. deliver retries what
        is due now (exit 1 if something still fails); raise records one by hand; list shows each
        alert's delivery.
        """),
        Entry(name: "salvage", synopsis: ["salvage [--failover ID | --last]"], text: """
        Redoes a failover's salvage of the dead master's binlogs (after a worker died or ssh failed):
        exit 0 done, 69 the host is unreachable, 1 failed, 76 another attempt is running.
        """),
        Entry(name: "status", synopsis: ["status [--json]"], text: """
        After a failover, or any time: the timeline, the fence, an open failover, running jobs, the last
        backup and every problem (an unfinished salvage, a stale fence) with what to do next.
        """),
        Entry(name: "verify", synopsis: ["verify [ID | --all | --latest] [--level files|structure|restore] [--json]"], text: """
        files: checksums against the manifest. structure (default): also unpacks the stream (mbstream),
        prepares it and reads the archived binlogs. restore: restores the backup into a scratch
        mariadbd, checks its tables against the source and records the time it took (RTO). Exit 0 when
        every backup checked is sound, 65 when one is not.
        """),
        Entry(name: "retention", synopsis: ["retention [--confirm] [--json] [--now TIME]"], text: """
        Prints the retention plan: every backup and every archived binlog, kept or deleted, with its
        reason ("daily 2026-11-28", "parent of ID", "binlogs for PITR of ID", "older than 7d"). Fulls
        are kept 7 daily, 4 weekly and 12 monthly, incrementals and binlogs 7 days ([retention]); a
        kept incremental keeps its parents, and the binlogs a point-in-time restore needs from the
        window's first backup on are kept on both sides of every failover. Deletes nothing without
        --confirm. --now TIME plans as of another UTC time (what-if). Nothing to delete is success (0).
        """),
        Entry(name: "restore", synopsis: ["restore (--latest | --to-time T | --to-position [HOST:]FILE:POS | --to-gtid G | --backup ID)",
                                          "        --target-dir DIR [--backup ID] [--port P --start] [--plan] [--keep-work] [--json]"], text: """
        Point-in-time restore across failovers: the newest complete backup before the target, its
        incrementals, then the archived binlogs of each timeline's master up to the target. --plan
        prints what would be used and changes nothing. --start starts the restored server on --port P
        (left running). --keep-work keeps the scratch folder. Needs MariaDB's programs (mariadbd,
        mariadb-binlog, mbstream) whatever the source.
        """),
        Entry(name: "drill", synopsis: ["drill --new-master HOST [--dead-master-ssh yes|no]"], text: """
        The whole failover sequence with today's topology, as a dry run: every hook phase MHA would
        run, with what each would do. Changes nothing.
        """),
        Entry(name: "sandbox", synopsis: ["sandbox up|down|status|env [--base N] [--root DIR] [--hooks-dir DIR]",
                                          "sandbox kill-master --host|--mysqld",
                                          "sandbox failover --host|--mysqld",
                                          "sandbox switch --new-master HOST"], text: """
        A three-host MariaDB + MHA cluster on this machine (root only): 127.0.0.(N+1)-(N+3), default
        N = 10, each its own mariadbd on 3306 and sshd on 22, under /var/lib/mha-backup-sandbox (or
        --root, $MHA_BACKUP_SANDBOX). Its app.cnf points at the hooks of the checkout, or of
        --hooks-dir DIR ($MHA_BACKUP_SANDBOX_HOOKS; the package's are in /usr/share/mha-backup/hooks).
        env prints the export that makes every command use it. kill-master kills the master whole
        (--host) or its mysqld only; failover runs masterha_manager and kills the master under it;
        switch runs a planned online switch. down stops only what up started and removes the folder.
        """),
        Entry(name: "exit-codes", synopsis: ["exit-codes"], text: """
        The table of exit codes, the same for every command.
        """),
        Entry(name: "hook-worker", synopsis: ["hook-worker after-stop|after-report|after-switch --failover ID [...]"], text: """
        Internal: the detached worker the hooks start (from their own folder). Not for a person to run;
        use salvage to redo a salvage.
        """),
        Entry(name: "help", synopsis: ["help [COMMAND]", "COMMAND --help"], text: """
        This help: the summary, or one command's. --version prints the version.
        """),
    ]

    public static func entry(_ name: String) -> Entry? { commands.first { $0.name == name } }

    /// One command's help as printed by `help CMD` and `CMD --help`.
    public static func text(_ e: Entry) -> String {
        // A synopsis line that starts with spaces continues the one before it.
        "usage: " + e.synopsis.map { $0.hasPrefix(" ") ? "                          \($0)" : "mha-backup [--config FILE] \($0)" }
            .joined(separator: "\n       ") + "\n\n" + e.text
    }

    /// `--version`, `help [CMD]`, `help --man` and `CMD --help`: true when answered (printed).
    static func answer(_ cmd: String, _ rest: [String]) throws -> Bool {
        switch cmd {
        case "--version", "version":
            print(MHABackupVersion.line("mha-backup"))
            return true
        case "help", "-h", "--help":
            guard let what = rest.first else { return false }  // the summary, CLI.usage
            if what == "--man" { print(man(summary: CLI.usage)); return true }
            guard let e = entry(what) else {
                throw MBError.usage("no command \(q(what)); 'mha-backup help' lists them")
            }
            print(text(e))
            return true
        default:
            guard rest.contains("--help") || rest == ["-h"], let e = entry(cmd) else { return false }
            print(text(e))
            return true
        }
    }

    /// The man page, mha-backup(1), in roff: every command from `commands`, the hooks from `HookHelp`.
    public static func man(summary: String) -> String {
        func esc(_ s: String) -> String {
            var out = ""
            for line in s.split(separator: "\n", omittingEmptySubsequences: false) {
                var l = line.replacing("\\", with: "\\e").replacing("-", with: "\\-")
                if l.hasPrefix(".") || l.hasPrefix("'") { l = "\\&" + l }
                out += l + "\n"
            }
            return out
        }
        var m = """
        .TH MHA\\-BACKUP 1 "" "mha-backup \(MHABackupVersion.version)" "User Commands"
        .SH NAME
        mha\\-backup \\- backups of MySQL/MariaDB that survive MHA failovers
        .SH SYNOPSIS
        .B mha\\-backup
        [\\fB\\-\\-config\\fR \\fIFILE\\fR] \\fICOMMAND\\fR ...
        .br
        .B mha\\-backup \\-\\-version
        .SH DESCRIPTION
        mha\\-backup takes physical and logical backups, archives and streams binlogs, verifies and
        restores to any point across failovers. Four hook executables wire it into MHA
        (mha4mysql\\-manager), so backups pause or stop during a failover, the failed master's
        binlogs are saved, and a full backup starts on the new timeline.
        .PP
        The config: \\fB\\-\\-config\\fR \\fIFILE\\fR (before or after the command), else
        \\fB$MHA_BACKUP_CONFIG\\fR, else \\fI/etc/mha\\-backup/mha\\-backup.cnf\\fR (mode 0600).
        .SH COMMANDS

        """
        for e in commands {
            m += ".SS \(esc(e.name))"
            m += ".nf\n" + esc(e.synopsis.map { $0.hasPrefix(" ") ? "           \($0)" : "mha-backup \($0)" }.joined(separator: "\n")) + ".fi\n"
            m += ".PP\n" + esc(e.text)
        }
        m += ".SH HOOKS\nMHA runs these; each answers \\fB\\-\\-version\\fR and \\fB\\-\\-help\\fR when given alone.\n"
        for h in HookHelp.hooks {
            m += ".TP\n.B \(esc(h.executable))" + esc("(\(h.setting)) " + h.summary)
        }
        m += """
        .PP
        The package installs entry points for MHA's app.cnf in \\fI/usr/share/mha\\-backup/hooks/\\fR
        and a complete example in \\fI/usr/share/doc/mha\\-backup/examples/\\fR.
        .SH EXIT STATUS

        """
        for c in ExitCode.allCases {
            m += ".TP\n.B \(c.rawValue)\n" + esc(c.meaning)
        }
        m += """
        .SH FILES
        .TP
        .I /etc/mha\\-backup/mha\\-backup.cnf
        the config (mode 0600)
        .TP
        .I /etc/mha\\-backup/client.cnf
        the credentials, [client] user and password (mode 0600), on the manager and every database host
        .TP
        .I /var/lib/mha\\-backup/
        state_dir and store_dir by default
        .SH SUMMARY
        .nf

        """
        m += esc(summary) + ".fi\n"
        m += ".SH SEE ALSO\n.BR masterha_manager (1),\n.BR mariabackup (1),\n.BR mariadb\\-binlog (1);\n/usr/share/doc/mha\\-backup/INSTALL.md.gz\n"
        return m
    }
}
