import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore

/// `retention [--confirm] [--json] [--now TIME]`: the plan, every backup and archived binlog with
/// its reason; deletes only with --confirm. Nothing to delete is success (0).
enum RetentionCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard args.positional.isEmpty else {
            throw MBError.usage("retention takes no arguments, got \(args.positional.map(q).joined(separator: " "))")
        }
        var now = ctx.clock.now()
        if let t = args["now"] {
            do { now = try RestoreTarget.parseTime(t) } catch {
                throw MBError.usage("option '--now' must be a UTC time like '2026-11-25 17:20:00' or '2026-11-25T17:20:00Z', got \(q(t))")
            }
        }
        let confirm = args.has("confirm")
        let executor = RetentionExecutor.configured(ctx)
        let plan = try executor.run(now: now, confirm: confirm)
        if args.has("json") {
            try plan.writeJSON { print($0, terminator: "") }
            return
        }
        for line in render(plan, confirmed: confirm) { print(line) }
    }

    /// Backups one a line; binlogs of one server with the same action and reasons as one range.
    static func render(_ plan: RetentionPlan, confirmed: Bool) -> [String] {
        var out = ["retention plan as of \(RestoreTarget.format(plan.now)) UTC: fulls \(plan.policy.fullDaily) daily, \(plan.policy.fullWeekly) weekly, \(plan.policy.fullMonthly) monthly; incrementals \(plan.policy.incrementalDays); binlogs \(plan.policy.binlogDays)"
                   + (plan.policy.maxAge.map { "; at most \($0)" } ?? "")
                   + (confirmed ? "" : " (dry run: nothing is deleted without --confirm)")]
        let verb = { (a: RetentionAction) in a == .keep ? "keep  " : (confirmed ? "DELETED" : "delete") }
        for b in plan.backups {
            out.append("\(verb(b.action))  backup  \(b.id)  \(b.type ?? "")  \(b.status ?? "")  \(RestoreTarget.format(b.time))  \(formatBytes(b.bytes))  \(b.reasons.joined(separator: ", "))")
        }
        var i = 0
        let bl = plan.binlogs
        while i < bl.count {
            var j = i
            while j + 1 < bl.count, bl[j + 1].folder == bl[i].folder, bl[j + 1].action == bl[i].action, bl[j + 1].reasons == bl[i].reasons { j += 1 }
            let names = i == j ? bl[i].id : "\(bl[i].id) .. \(bl[j].id) (\(j - i + 1) files)"
            let bytes = bl[i...j].reduce(Int64(0)) { $0 + $1.bytes }
            out.append("\(verb(bl[i].action))  binlog  \(bl[i].host):\(bl[i].port)  \(names)  \(formatBytes(bytes))  \(bl[i].reasons.joined(separator: ", "))")
            i = j + 1
        }
        if let p = plan.pitrFrom { out.append("point-in-time window: from backup \(p) to the newest archived binlog") }
        for n in plan.notes { out.append("note: \(n)") }
        let s = plan.summary
        if plan.nothingToDelete {
            out.append("nothing to delete: \(s.backupsKept) backups and \(s.binlogsKept) binlogs kept")
        } else {
            out.append("\(confirmed ? "deleted" : "would delete") \(s.backupsDeleted) backups and \(s.binlogsDeleted) binlogs (\(formatBytes(s.bytesDeleted))); kept \(s.backupsKept) backups and \(s.binlogsKept) binlogs")
        }
        return out
    }
}
