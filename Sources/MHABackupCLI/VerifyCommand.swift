import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

/// `verify [ID | --all | --latest] [--level files|structure|restore] [--json]`: exit 0 when every
/// check passed, 65 when one failed, 66 for an unknown id or an empty catalog.
enum VerifyCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        var level = VerifyLevel.structure
        if let l = args["level"] {
            guard let v = VerifyLevel(rawValue: l) else {
                throw MBError.usage("option '--level' must be files, structure or restore, got \(q(l))")
            }
            level = v
        }
        guard args.positional.count <= 1 else {
            throw MBError.usage("verify takes one backup id, got \(args.positional.map(q).joined(separator: " "))")
        }
        let chosen = [args.positional.first.map { _ in "ID" }, args.has("all") ? "--all" : nil, args.has("latest") ? "--latest" : nil].compactMap { $0 }
        guard chosen.count <= 1 else {
            throw MBError.usage("verify takes one of ID, --all or --latest, got \(chosen.joined(separator: " and "))")
        }
        let selection: VerifySelection = args.positional.first.map { .backup($0) } ?? (args.has("all") ? .all : .latest)

        let verifier = Verifier(ctx: ctx)
        let signals = SignalForwarder.install(verifier.cancellation)
        defer { signals.cancel() }
        defer { MetricsWriter.refresh(ctx.config, after: "verify") }
        let report = try verifier.run(selection, level: level)

        for s in report.skipped { eprint("skipped \(s.id): \(s.reason)") }
        if args.has("json") {
            print(JSON.string(report.records))
        } else {
            for r in report.records {
                if r.ok {
                    let rto = r.restore.map { "  restored in \(String(format: "%.1f", $0.seconds)) s, \($0.tables) table\($0.tables == 1 ? "" : "s"), \($0.compared) compared with the source" } ?? ""
                    print("ok  \(r.id)  \(r.level.rawValue)  \(r.files) file\(r.files == 1 ? "" : "s")  \(String(format: "%.1f", r.seconds)) s\(rto)")
                    for n in r.restore?.notes ?? [] { print("    note: \(n)") }
                } else {
                    for p in r.problems { print("FAILED  \(r.id): \(p.line)") }
                }
            }
            if !report.binlogsChecked { print("binlog archive not checked ('verify --all' checks it)") }
        }
        if !report.ok {
            BackupAlerts.verifyFailed(ctx, report: report, level: level)
            throw CLI.CommandExit(code: ExitCode.dataError.rawValue)
        }
    }
}
