import MHABackupBase

/// `--version` and `--help` of the four hook executables, for a person at a terminal. MHA never
/// calls a hook with one lone argument (its argv always has `--command=...` or the report's
/// `--orig_master_host=...`), so only an argv of exactly `["--version"]` or `["--help"]` (or `-h`)
/// is answered here; anything else is MHA's and goes to the hook unchanged. FoundationEssentials
/// only: the hooks link it.
public enum HookHelp {
    /// The executables, the MHA setting each serves, and what it does.
    public static let hooks: [(executable: String, setting: String, summary: String)] = [
        ("mha-backup-master-ip-failover", "master_ip_failover_script",
         "stop/stopssh: opens the failover record and the fence, pauses or aborts running backups, stops the\n"
         + "binlog stream, salvages the failed master's binlogs (detached); start: records the new master's\n"
         + "promotion point and opens the next timeline."),
        ("mha-backup-shutdown", "shutdown_script",
         "stops the failed master's mysqld over ssh when no power manager is chained, and tells MHA whether it\n"
         + "is stopped (0, 10 or 1); with a chained power manager, waits for the binlog salvage first."),
        ("mha-backup-report", "report_script",
         "after the failover (detached): archives MHA's saved binlog, resumes or aborts paused jobs, restarts\n"
         + "the stream, lifts the fence and starts a full backup on the new timeline."),
        ("mha-backup-master-ip-online-change", "master_ip_online_change_script",
         "a planned switch (masterha_master_switch --master_state=alive): stop raises the fence, pauses jobs\n"
         + "and stops the stream; start records the promotion point, then resumes, restarts the stream and\n"
         + "starts a full backup."),
    ]

    /// The exit code when `argv` asked for version or help (printed on stdout), else nil: run the hook.
    public static func answer(executable: String, argv: [String]) -> Int32? {
        guard argv.count == 1 else { return nil }
        switch argv[0] {
        case "--version":
            print(MHABackupVersion.line(executable))
            return 0
        case "--help", "-h":
            print(text(executable: executable))
            return 0
        default:
            return nil
        }
    }

    public static func text(executable: String) -> String {
        let h = hooks.first { $0.executable == executable }
        let setting = h?.setting ?? "(unknown hook)"
        return """
        usage: \(executable) [--config=FILE] [--chain=PATH] [--dry-run] MHA's own options...
        \(h?.summary ?? "")

        MHA runs this program; put it in the MHA app.cnf:
          \(setting)=/usr/bin/\(executable) --config=/etc/mha-backup/mha-backup.cnf [--chain=/path/to/the/site's/script]

        Our own options (MHA's argv is passed through untouched otherwise):
          --config=FILE   mha-backup's config (else $MHA_BACKUP_CONFIG, else /etc/mha-backup/mha-backup.cnf)
          --chain=PATH    the site's own \(setting): run with MHA's argv and environment; its exit
                          code is what MHA sees
          --dry-run       print the plan and change nothing (also MHA_BACKUP_DRY_RUN=1)
        Exit codes (MHA's contract): 0 ok, 10 failed but proceed, anything else aborts the failover.
        The detached worker is `mha-backup hook-worker`, run from the folder this program is in.
        The whole story of a failover: mha-backup audit --last. Also: man mha-backup.
        --version, --help: this text and the version, when given alone.
        """
    }
}
