import Foundation
import MHABackupBase
import MHABackupCore

/// `mha-backup run full|incremental|binlog|verify|retention|tier [--ignore-gates] [--json]`: what
/// the timers start. Gates first (waited for, then "skipped: <gate>" with an alert), then the
/// command as a child of this binary; leaves with the child's exit code, or the skipped gate's.
enum RunCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard args.positional.count == 1, let kind = RunKind(rawValue: args.positional[0]) else {
            throw MBError.usage("run needs one of \(RunKind.allCases.map(\.rawValue).joined(separator: ", ")), got \(args.positional.map(q).joined(separator: " "))")
        }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let cancellation = CancellationFlag()
        let signals = SignalForwarder.install(cancellation)
        defer { signals.cancel() }
        let r = try ScheduledRun.live(ctx: ctx, executable: exe, cancellation: cancellation).run(kind, ignoreGates: args.has("ignore-gates"))
        if args.has("json") { print(JSON.string(r)) } else if r.outcome != .ok { eprint("mha-backup: run \(kind.rawValue): \(r.message)") }
        if let c = r.exitCode, c != 0 { throw CLI.CommandExit(code: c) }
        if r.outcome != .ok { throw CLI.CommandExit(code: ExitCode.failed.rawValue) }
    }
}
