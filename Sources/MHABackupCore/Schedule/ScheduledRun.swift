import Foundation
import MHABackupBase

/// `mha-backup run KIND`: the gates (waited for, retried, given up with "skipped: <gate>"), then the
/// command as a child of the same binary, watched against its window, recorded in the run history.
public struct ScheduledRun: Sendable {
    public let ctx: Context
    public var probe: any GateProbe
    /// Waits between gate checks; returns false when the run was cancelled meanwhile.
    public var sleep: @Sendable (TimeInterval) -> Bool
    /// Runs the command (arguments after the binary and its --config) to its end: exit code.
    public var runChild: @Sendable ([String]) throws -> Int32
    public var log: @Sendable (String) -> Void = { eprint($0) }

    public init(ctx: Context, probe: any GateProbe, sleep: @escaping @Sendable (TimeInterval) -> Bool,
                runChild: @escaping @Sendable ([String]) throws -> Int32) {
        self.ctx = ctx
        self.probe = probe
        self.sleep = sleep
        self.runChild = runChild
    }

    var settings: ScheduleSettings { ctx.config.schedule }

    /// The exit code a run skipped at a gate leaves with: the fence as a backup refused by it (75),
    /// a busy host as a busy slot (76), a manager that does not monitor or a host that does not
    /// answer as unavailable (69).
    public static func exitCode(skippedAt gate: GateKind) -> ExitCode {
        switch gate {
        case .fence: return .fenced
        case .load, .ioUtil, .localLoad: return .busy
        case .manager: return .unavailable
        }
    }

    /// Runs `kind` to its end and returns what was recorded.
    public func run(_ kind: RunKind, ignoreGates: Bool) throws -> RunRecord {
        let clock = ctx.clock
        let start = clock.now()
        let history = RunHistory(path: ctx.config.runHistoryPath)
        let audit = AuditLog(path: ctx.config.auditPath)
        try AtomicFile.makeDirectory(ctx.config.stateDir)
        func event(_ action: String, _ outcome: AuditOutcome, _ message: String, exit: Int32? = nil, ms: Int? = nil) {
            audit.append(AuditEvent(time: clock.now(), failoverId: nil, hook: "run", phase: kind.rawValue, action: action,
                                    outcome: outcome, durationMs: ms, exitCode: exit, message: message))
        }
        func record(_ r: RunRecord) throws -> RunRecord {
            audit.sync()
            try history.append(r)
            return r
        }

        if ignoreGates {
            event("gates", .skipped, "--ignore-gates: \(kind.gates.map(\.rawValue).joined(separator: ", ")) not checked")
            log("run \(kind.rawValue): gates ignored (--ignore-gates)")
        } else {
            var checks = 0
            while true {
                checks += 1
                let results = probe.check(kind.gates, for: kind)
                guard let closed = results.last, !closed.open else {
                    event("gates", .ok, results.map { "\($0.gate.rawValue): \($0.reason)" }.joined(separator: "; "))
                    break
                }
                let waited = clock.now().timeIntervalSince(start)
                event("gate \(closed.gate.rawValue)", .warning, closed.reason)
                if waited >= settings.gateGiveUp {
                    let msg = "skipped: \(closed.gate.rawValue)"
                    log("run \(kind.rawValue) \(msg) (\(closed.reason)); gave up after \(Int(waited)) s and \(checks) check\(checks == 1 ? "" : "s")")
                    event("run", .skipped, "\(msg): \(closed.reason)")
                    Alerts.raise(config: ctx.config, severity: .warning, kind: .runSkipped, key: kind.rawValue,
                                 summary: "\(kind.rawValue) \(msg)",
                                 details: "\(closed.reason); gate checked \(checks) time\(checks == 1 ? "" : "s") over \(Int(waited)) s (gate_give_up \(Int(settings.gateGiveUp)) s)",
                                 failoverId: nil, now: clock.now())
                    return try record(RunRecord(kind: kind, outcome: .skipped, startedAt: start, commandStartedAt: nil, finishedAt: clock.now(),
                                                durationSeconds: nil, exitCode: Self.exitCode(skippedAt: closed.gate).rawValue,
                                                gate: closed.gate, message: "\(msg): \(closed.reason)", gatesIgnored: false, pid: getpid()))
                }
                let pause = min(settings.gateRetry, settings.gateGiveUp - waited)
                log("run \(kind.rawValue): gate \(closed.gate.rawValue) closed (\(closed.reason)); checking again in \(Int(pause.rounded(.up))) s")
                guard sleep(pause) else {
                    event("run", .failed, "cancelled while waiting for gate \(closed.gate.rawValue)")
                    return try record(RunRecord(kind: kind, outcome: .failed, startedAt: start, commandStartedAt: nil, finishedAt: clock.now(),
                                                durationSeconds: nil, exitCode: ExitCode.failed.rawValue, gate: closed.gate,
                                                message: "cancelled while waiting for gate \(closed.gate.rawValue)", gatesIgnored: false, pid: getpid()))
                }
            }
        }

        // The window: a run still going after it is a critical alert; it is not killed.
        let previous = (try? history.lastDurations(kind, settings.slowRuns)) ?? []
        let finished = CancellationFlag()
        let window = settings.windows[kind.rawValue]
        let commandStart = clock.now()
        if let window {
            let c = ctx
            DispatchQueue.global().asyncAfter(deadline: .now() + window) {
                guard !finished.isCancelled else { return }
                let msg = "\(kind.rawValue) still running after its window of \(Int(window)) s (started \(iso8601(commandStart)))"
                AuditLog(path: c.config.auditPath).append(AuditEvent(time: c.clock.now(), failoverId: nil, hook: "run", phase: kind.rawValue,
                                                                     action: "window", outcome: .warning, message: msg))
                Alerts.raise(config: c.config, severity: .critical, kind: .runPastWindow, key: kind.rawValue, summary: msg,
                             details: "window_\(kind.rawValue) = \(Int(window)) s; the run goes on (it is killed only at run_timeout)",
                             failoverId: nil, now: c.clock.now())
            }
        }
        event("command", .info, "mha-backup \(kind.childArguments.joined(separator: " "))")
        let code: Int32
        do { code = try runChild(kind.childArguments) } catch {
            finished.cancel()
            throw error
        }
        finished.cancel()
        let seconds = clock.now().timeIntervalSince(commandStart)
        let ok = code == 0
        let msg = ok ? "ok in \(String(format: "%.1f", seconds)) s" : "mha-backup \(kind.childArguments.joined(separator: " ")) exited \(code)"
        event("run", ok ? .ok : .failed, msg, exit: code, ms: Int(seconds * 1000))
        if ok, RunHistory.isSlow(seconds, previous: previous, factor: settings.slowFactor) {
            let avg = previous.reduce(0, +) / Double(previous.count)
            let s = "\(kind.rawValue) took \(Int(seconds)) s, over \(settings.slowFactor)x the average of the last \(previous.count) (\(Int(avg)) s)"
            event("slow", .warning, s)
            Alerts.raise(config: ctx.config, severity: .warning, kind: .runSlow, key: kind.rawValue, summary: s, failoverId: nil, now: clock.now())
        }
        return try record(RunRecord(kind: kind, outcome: ok ? .ok : .failed, startedAt: start, commandStartedAt: commandStart,
                                    finishedAt: clock.now(), durationSeconds: seconds, exitCode: code, gate: nil, message: msg,
                                    gatesIgnored: ignoreGates, pid: getpid()))
    }

    /// The real run: gates through `LiveGateProbe`, the child through the process runner (output
    /// straight to ours, killed at `run_timeout`, SIGTERM/SIGINT forwarded).
    public static func live(ctx: Context, executable: String, cancellation: CancellationFlag) -> ScheduledRun {
        let timeout = ctx.config.schedule.runTimeout
        let config = ctx.config.path
        return ScheduledRun(ctx: ctx, probe: LiveGateProbe(ctx: ctx), sleep: { seconds in
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if cancellation.isCancelled { return false }
                usleep(useconds_t(min(1, max(0.01, end.timeIntervalSinceNow)) * 1_000_000))
            }
            return !cancellation.isCancelled
        }, runChild: { args in
            var o = RunOptions(timeout: timeout)
            o.stdout = .fd(1)
            o.stderrFd = 2
            o.cancellation = cancellation
            // A backup takes its grace to record itself as aborted.
            o.grace = 30
            let r = try ProcessRunner().runPipeline([Command([executable, "--config", config] + args)], options: o)
            if r.timedOut { eprint("mha-backup: run: \(args.joined(separator: " ")) killed after run_timeout \(Int(timeout)) s") }
            if let c = r.stages[0].exitCode, !r.timedOut { return c }
            return ExitCode.failed.rawValue
        })
    }
}
