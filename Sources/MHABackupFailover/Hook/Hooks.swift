import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// The entry of every hook executable: MHA's argv in, an exit code MHA understands out.
public enum Hooks {
    public static func main(kind: HookKind, argv: [String]) -> Int32 {
        let entered = Date()
        wipeSecretsInArgv()
        closeInheritedDescriptors()
        signal(SIGPIPE, SIG_IGN)
        let h = HookContext(kind: kind, argv: argv)
        let sources = HookInterrupt.install(h)
        let code = run(h, entered: entered)
        for s in sources { s.cancel() }
        return code
    }

    /// One call: the phase, then its `hook exit` event with the time this call held MHA (from
    /// main to exit; a static executable's start-up before main is measured in BENCHMARKS P1):
    /// `mha-backup audit` sums it per failover.
    package static func run(_ h: HookContext, entered: Date = Date()) -> Int32 {
        let code = HookRunner(h).run()
        h.record(Self.exitAction, outcome: code == 0 || code == 10 ? .ok : .failed, started: entered, exitCode: code, quiet: true)
        h.audit?.sync()
        return code
    }

    /// The audit action of a hook's last event: its exit code and the time it held MHA.
    public static let exitAction = "hook exit"
}

/// SIGTERM/SIGINT to a hook (an operator's Ctrl-C, a killed manager's process group): the chained
/// script's process group is stopped (staged: TERM, then KILL) and the interruption recorded; the
/// hook then exits 1 (it did not finish), at the latest 5 s later.
enum HookInterrupt {
    static let flag = CancellationFlag()

    static func install(_ h: HookContext) -> [DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { sig in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                guard !flag.isCancelled else { return }
                flag.cancel()
                h.record("interrupted", outcome: .failed, exitCode: 1,
                         message: "\(sig == SIGTERM ? "SIGTERM" : "SIGINT") received: the chained script's process group is stopped; the hook exits 1")
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
                    h.audit?.sync()
                    _exit(1)
                }
            }
            s.resume()
            return s
        }
    }
}
