import Foundation
import MHABackupBase
import MHABackupCore

/// `mha-backup tier sync [--tier NAME] [--dry-run] [--json]`: moves committed backups and archived
/// binlogs down the tiers (hot -> warm -> cold), each remote copy verified by SHA-256 before the
/// catalog records it and before the copy above it is removed. Exit 0 done (or nothing to do),
/// 69 a remote down or full (the hot copy kept; the next sync resumes), 65 a remote copy that
/// does not match, 78 no tier configured.
enum TierCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard args.positional == ["sync"] else {
            throw MBError.usage("tier takes 'sync', got \(args.positional.map(q).joined(separator: " "))")
        }
        let sync = TierSync(ctx: ctx)
        let json = args.has("json")
        if json { sync.log = { _ in } }
        let report = try sync.run(limit: args["tier"], dryRun: args.has("dry-run"), now: ctx.clock.now())
        for n in report.notes { eprint("note: \(n)") }
        if json { print(JSON.string(report)) }
    }
}

/// `mha-backup catalog rebuild --from TIER [--json]`: the catalog of a lost manager host, back from a tier.
enum CatalogCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard args.positional == ["rebuild"] else {
            throw MBError.usage("catalog takes 'rebuild --from TIER', got \(args.positional.map(q).joined(separator: " "))")
        }
        guard let from = args["from"] else { throw MBError.usage("catalog rebuild needs '--from warm|cold'") }
        var rebuild = CatalogRebuild(ctx: ctx)
        if args.has("json") { rebuild.log = { _ in } }
        let report = try rebuild.run(from: from, now: ctx.clock.now())
        if args.has("json") { print(JSON.string(report)) }
        if !report.rejected.isEmpty { throw CLI.CommandExit(code: ExitCode.dataError.rawValue) }
    }
}
