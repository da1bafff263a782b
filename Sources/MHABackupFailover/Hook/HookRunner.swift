import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// What each hook phase does. Our own trouble is audited and alerted and never changes the exit
/// code MHA sees (that is the chained script's, or our documented default), unless
/// `abort_failover_on_error = yes`.
final class HookRunner {
    let h: HookContext
    var ownTrouble: [String] = []

    init(_ h: HookContext) { self.h = h }

    var args: HookArguments { h.args }
    var config: BackupConfig? { h.ctx?.config }

    /// Our own options, never passed on to the site's script.
    static let ownOptions: Set<String> = ["chain", "config", "dry-run", "dry_run"]

    var chainArgv: [String] {
        args.raw.filter { a in
            guard a.hasPrefix("--") else { return true }
            let k = a.dropFirst(2).split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return !Self.ownOptions.contains(k)
        }
    }

    /// `--chain=PATH` on the app.cnf line wins over `[chain]` in our config (and works even when
    /// our config cannot be read).
    var chainPath: String? {
        // Absolute only: a bare name would be looked up in the manager's PATH.
        if let c = args["chain"], !c.isEmpty { return c.hasPrefix("/") ? c : nil }
        return config?.chain[h.kind]
    }

    func startChain(environment: [String: String] = [:]) -> ChainRun? {
        guard let p = chainPath else { return nil }
        if h.dryRun { return nil }  // said by dryRunChain
        return ChainRun(path: p, argv: chainArgv, timeout: config?.hooks.chainTimeout ?? 600, environment: environment)
    }

    func finishChain(_ c: ChainRun?, default d: Int32) -> Int32 {
        guard let c else {
            if h.dryRun {
                let code = chainPath.map(dryRunChain) ?? 0
                h.record("dry run", outcome: .planned, exitCode: code, message: "nothing was changed")
                return code
            }
            return ownExit(d)
        }
        let code = c.wait()
        h.record("chained \(c.path)", outcome: code == 0 || code == 10 ? .ok : .failed, started: c.started, exitCode: code,
                 message: c.summary)
        return ownExit(code)
    }

    /// Our own failure changes the exit only when the operator asked for it.
    func ownExit(_ code: Int32) -> Int32 {
        if code == 0, !ownTrouble.isEmpty, config?.hooks.abortFailoverOnError == true,
           [.stop, .stopssh, .start].contains(args.command) {
            h.say("abort_failover_on_error = yes and our own steps failed: \(ownTrouble.joined(separator: "; "))")
            return 1
        }
        return code
    }

    /// Our own trouble: audited, and alerted (once per failover and action).
    func trouble(_ action: String, host: String? = nil, _ message: String, severity: AlertSeverity = .warning,
                 kind: AlertKind = .hookStepFailed) {
        ownTrouble.append("\(action): \(message)")
        h.record(action, host: host, outcome: .failed, message: message)
        h.alert(severity, "\(h.kind.rawValue) \(phaseName)\(host.map { " on \($0)" } ?? ""): \(action) failed: \(message)", kind: kind, key: action)
    }

    func run() -> Int32 {
        if !args.unknown.isEmpty {
            h.say("ignoring unknown option(s): \(args.unknown.map { "--\($0)" }.joined(separator: " "))")
        }
        if !args.positional.isEmpty {
            h.say("ignoring stray argument(s): \(Redaction.redact(args.positional).joined(separator: " "))")
        }
        if let e = h.loadError {
            // Without our config we cannot do our part; the site's script still runs.
            if args.command == .status || h.kind == .masterIPOnlineChange && args.command == nil {
                eprint("mha-backup \(h.kind.rawValue): \(e.message)")
                return 1
            }
            h.say("config not loaded (\(e.message)); running only the chained script")
            if h.kind == .shutdown, [.stop, .stopssh].contains(args.command), chainPath == nil {
                return fenceOldMaster(ssh: args.command == .stopssh)
            }
            if h.dryRun, let p = chainPath { return dryRunChain(p) }
            return startChain()?.wait() ?? 0
        }
        // report_script has no status call: `--command=status` on it must not skip the check.
        if args.command != .status || h.kind == .report, let refused = hostsNotInMHAConfig() {
            return refuseUnknownHosts(refused)
        }
        switch (h.kind, args.command) {
        case (.masterIPFailover, .status?), (.shutdown, .status?):
            return status()
        case (.masterIPFailover, .stop?), (.masterIPFailover, .stopssh?):
            return failoverStop(ssh: args.command == .stopssh)
        case (.masterIPFailover, .start?):
            return failoverStart()
        case (.shutdown, .stopssh?), (.shutdown, .stop?):
            return shutdown(ssh: args.command == .stopssh)
        case (.report, _):
            return report()
        case (.masterIPOnlineChange, .stop?):
            return switchStop()
        case (.masterIPOnlineChange, .start?):
            return switchStart()
        case (.masterIPOnlineChange, .status?):
            return status()
        default:
            h.say("unknown --command \(q(args["command"] ?? "")); running only the chained script")
            h.record("called", outcome: .skipped, message: "unknown --command", withArgs: true)
            let c = startChain()
            return c?.wait() ?? 0
        }
    }

    /// Hosts MHA (or a person) passed that are not servers of our mha_conf: nil when all are.
    func hostsNotInMHAConfig() -> [String]? {
        guard let ctx = h.ctx else { return nil }
        let bad = [args.origMaster, args.newMaster].compactMap { $0 }
            .filter { ctx.mha.server(named: $0.host) == nil && ctx.mha.server(named: $0.address) == nil }.map(\.host)
        return bad.isEmpty ? nil : bad
    }

    /// Our part is refused (no record, no fence, no timeline change); the site's script still runs
    /// and its exit code is MHA's. Without one, shutdown_script cannot claim anything stopped: 1.
    func refuseUnknownHosts(_ hosts: [String]) -> Int32 {
        let msg = "\(hosts.map(q).joined(separator: ", ")) \(hosts.count == 1 ? "is not a server" : "are not servers") in \(q(h.ctx?.mha.path ?? "?")) (mha_conf of \(q(config?.path ?? "?"))): our part is skipped"
        h.record("refused", outcome: .failed, message: msg, withArgs: true)
        h.alert(.critical, "\(h.kind.rawValue) \(phaseName): \(msg)", kind: .unknownHost)
        if let p = chainPath {
            if h.dryRun { return dryRunChain(p) }
            return finishChain(startChain(), default: 0)
        }
        return h.kind == .shutdown && [.stop, .stopssh].contains(args.command) ? 1 : 0
    }

    func origMasterServer() -> MHAServer? {
        guard let m = args.origMaster, let ctx = h.ctx else { return nil }
        return ctx.mha.server(named: m.host) ?? ctx.mha.server(named: m.address)
    }

    func matches(_ host: String, _ s: HookServer) -> Bool {
        host == s.host || host == s.address || h.ctx?.mha.server(named: host).map { $0.hostname == s.host || $0.ip == s.address } == true
    }

    func openRecord(kind: FailoverRecord.Kind) -> FailoverRecord? {
        guard let ctx = h.ctx, let dead = args.origMaster else { return nil }
        let store = FailoverStore(stateDir: ctx.config.stateDir, clock: h.clock)
        if h.dryRun {
            let existing = store.open
            h.failoverId = existing?.id ?? "(new)"
            h.say("plan: \(existing == nil ? "open a new" : "reuse the open") failover record; raise the fence")
            return existing
        }
        do {
            let (r, created) = try store.openOrCreate(kind: kind, deadMaster: dead, newMaster: args.newMaster,
                                                      step: "\(h.kind.rawValue).\(phaseName)")
            h.failoverId = r.id
            h.record(created ? "failover opened" : "failover record reused", host: dead.host, outcome: .ok,
                     message: "\(kind.rawValue) of \(dead.host)\(args.newMaster.map { " to \($0.host)" } ?? "")", withArgs: true)
            let f = try Fence.raise(at: ctx.config.fencePath, failoverId: r.id, reason: "\(kind.rawValue) of \(dead.host)",
                                    ttl: ctx.config.hooks.failoverTTL, now: h.clock.now())
            h.record("fence up", outcome: .ok, message: "since \(iso8601(f.createdAt))", quiet: true)
            return r
        } catch {
            trouble("open failover record", "\(error)")
            return nil
        }
    }

    var phaseName: String { args.command?.rawValue ?? "report" }

    /// A rehearsal never runs the site's script (a power manager would switch the host off). It
    /// returns what the real run returns when the script does its job: 10 for shutdown_script
    /// stopssh (a power manager's "mysqld stopped, ssh works"), 0 otherwise; a script that is
    /// missing or not executable: 1, as the real run.
    func dryRunChain(_ path: String) -> Int32 {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            h.say("plan: chained \(q(path)) is not executable: the real run fails and MHA aborts (exit 1)")
            return 1
        }
        let success: Int32 = h.kind == .shutdown && args.command == .stopssh ? 10 : 0
        h.say("plan: run chained \(q(path)) with MHA's argv: \(Redaction.redact(chainArgv).joined(separator: " ")); MHA gets its exit code: \(success) when it does its job"
              + (h.kind == .shutdown ? (success == 10 ? " (mysqld stopped, ssh works; 0 would mean powered off and make MHA skip the dead master's binlog)"
                                                      : " (0: powered off)") : ""))
        return success
    }
}
