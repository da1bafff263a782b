import CSupport
import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// Everything one hook call works with. The config may have failed to load: a hook then still
/// runs the site's chained script (ours must never make a failover less safe) and says why.
public final class HookContext: @unchecked Sendable {
    public let kind: HookKind
    public let args: HookArguments
    public let ctx: Context?
    public let loadError: MBError?
    public let dryRun: Bool
    public let audit: AuditLog?
    public let clock: Clock
    public let runner = ProcessRunner()
    public let started = Date()
    /// Where the hook executable lives: the worker (`mha-backup`) is beside it.
    public let binDir: String
    public var failoverId: String?
    /// Signals, spawns, ssh and probes go through here (a recording fake in unit tests).
    package let effects: HookEffects

    public convenience init(kind: HookKind, argv: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
                            clock: Clock = .system) {
        self.init(kind: kind, argv: argv, environment: environment, clock: clock, effects: SystemEffects())
    }

    package init(kind: HookKind, argv: [String], environment: [String: String], clock: Clock, effects: HookEffects) {
        self.kind = kind
        self.effects = effects
        self.clock = clock
        let parsed = HookArguments(kind: kind, argv: argv)
        args = parsed
        dryRun = parsed.dryRun || environment["MHA_BACKUP_DRY_RUN"] == "1"
        binDir = environment["MHA_BACKUP_BIN_DIR"]
            ?? ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map { Path.dir($0) }
                ?? Path.dir(CommandLine.arguments[0]))
        // `--config=PATH` on the app.cnf line, else MHA_BACKUP_CONFIG, else the default.
        let path = BackupConfig.resolvePath(explicit: parsed["config"], environment: environment)
        var c: Context? = nil
        var err: MBError? = nil
        do { c = try Context.load(configPath: path) } catch let e as MBError { err = e } catch { err = MBError(.config, "\(error)") }
        ctx = c
        loadError = err
        if let c {
            let a = AuditLog(path: c.config.auditPath)
            // Passwords MHA passes (shell-escaped) never reach the trail, in any form.
            a.secrets = ["new_master_password", "orig_master_password"].compactMap { parsed[$0] }.filter { !$0.isEmpty }
                .flatMap { [$0, MHAShell.unescape($0)] }
            audit = a
        } else {
            audit = nil
        }
    }

    public var phase: String { args.command?.rawValue ?? (kind == .report ? "report" : "unknown") }

    /// Prints one line to stderr (MHA appends hook output to its manager log).
    public func say(_ s: String) {
        eprint("mha-backup \(kind.rawValue) \(phase): \(Redaction.redact(text: s, secrets: audit?.secrets ?? []))")
    }

    /// Records a step in the audit trail (and says it).
    public func record(_ action: String, host: String? = nil, outcome: AuditOutcome, started: Date? = nil, exitCode: Int32? = nil,
                       message: String? = nil, withArgs: Bool = false, quiet: Bool = false) {
        let now = clock.now()
        // A rehearsal changes nothing, the audit trail included: it only says what it would do.
        if !dryRun { audit?.append(AuditEvent(time: now, failoverId: failoverId, hook: kind.rawValue, phase: phase, action: action,
                                 host: host, outcome: outcome,
                                 durationMs: started.map { Int(now.timeIntervalSince($0) * 1000) }, exitCode: exitCode,
                                 args: withArgs ? args.raw : nil, message: message)) }
        if !quiet || dryRun {
            say("\(action)\(host.map { " \($0)" } ?? ""): \(outcome)\(message.map { " — \($0)" } ?? "")")
        }
    }

    /// Raises an alert: the audit, `state_dir/alerts.jsonl`, and the configured alert command
    /// (detached). One per failover and `kind`: a repeat is audited, not sent again.
    public func alert(_ severity: AlertSeverity, _ summary: String, details: String = "", kind: AlertKind, key: String? = nil) {
        guard let c = ctx?.config, !dryRun else {
            record("alert", outcome: .warning, message: "\(severity.rawValue): \(summary)")
            return
        }
        let sent = Alerts.raise(config: c, severity: severity, kind: kind, key: key, summary: summary, details: details,
                                failoverId: failoverId, now: clock.now())
        record("alert", outcome: sent ? .warning : .skipped, message: "\(severity.rawValue): \(summary)\(sent ? "" : " (already raised for this failover)")")
    }

    /// Spawns `mha-backup hook-worker ...` detached (new session, fds above 2 closed by spawn).
    /// The pid returned may be `setsid -f`'s (see SystemEffects); the worker records its own.
    public func spawnWorker(_ request: WorkerRequest) -> pid_t? {
        let bin = "\(binDir)/mha-backup"
        guard let c = ctx else { return nil }
        let argv = [bin, "--config", c.config.path, "hook-worker"] + request.argv
        do {
            return try effects.spawnDetached(argv, logFile: c.config.stateDir + "/hook-worker.log")
        } catch {
            record("spawn worker", outcome: .failed, message: "\(error)")
            return nil
        }
    }
}

/// MHA's `escape_for_shell` puts a backslash before `" $ \ ; ...` inside single quotes, so a hook
/// receives them literally. This undoes it, the way `MHA::NodeUtil::unescape_for_shell` does.
public enum MHAShell {
    /// NodeUtil.pm's @shell_escape_chars.
    static let escaped: Set<Character> = ["\"", "!", "#", "&", ";", "`", "|", "*", "?", "~", "<", ">", "^", "(", ")",
                                          "[", "]", "{", "}", "$", ",", " "]

    public static func unescape(_ s: String) -> String {
        var out = ""
        var it = s.makeIterator()
        while let c = it.next() {
            if c == "\\", let n = it.next() {
                if !escaped.contains(n) { out.append(c) }
                out.append(n)
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// A hook's first act: close what it inherited above stderr (MHA's database sessions and its
/// advisory lock would otherwise live on in anything we leave running).
public func closeInheritedDescriptors() {
    mb_close_fds_above_stderr()
}
