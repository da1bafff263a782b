import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

/// `mha-backup restore`: parse, plan, print the plan or carry it out.
enum RestoreCommand {
    static func target(_ args: Arguments) throws -> RestoreTarget {
        var chosen: [RestoreTarget] = []
        if args.has("latest") { chosen.append(.latest) }
        if let t = args["to-time"] { chosen.append(.time(try RestoreTarget.parseTime(t))) }
        if let p = args["to-position"] { chosen.append(try RestoreTarget.parsePosition(p)) }
        if let g = args["to-gtid"] { chosen.append(try RestoreTarget.parseGtid(g)) }
        if chosen.isEmpty, args["backup"] != nil { return .backupPoint }
        guard chosen.count == 1 else {
            throw MBError.usage(chosen.isEmpty
                ? "restore needs one of '--latest', '--to-time', '--to-position', '--to-gtid' (or '--backup ID' alone)"
                : "restore takes only one of '--latest', '--to-time', '--to-position', '--to-gtid'")
        }
        return chosen[0]
    }

    static func run(_ ctx: Context, args: Arguments) throws {
        let target = try target(args)
        let port = try args.int("port", 1...65535)
        if port != nil && !args.has("start") && !args.has("plan") {
            throw MBError.usage("option '--port' goes with '--start' (the server is left running on it)")
        }
        var planner = try RestorePlanner.forStore(ctx)
        if !args.has("plan") { planner.checkBase = { _ = try TierFetch.backup(ctx, $0.id); try RestoreGate.checkBackup(ctx: ctx, $0) } }
        let plan = try planner.plan(target: target, backupId: args["backup"])
        if !args.has("plan") {
            for f in plan.segments.flatMap(\.files) where f.origin == .archive { try TierFetch.binlog(ctx, path: f.path) }
        }
        if args.has("plan") {
            if args.has("json") { print(JSON.string(plan)) } else { plan.render().forEach { print($0) } }
            return
        }
        guard let dir = args["target-dir"] else { throw MBError.usage("restore needs '--target-dir DIR' (or '--plan' to only print the plan)") }
        let abs = dir.hasPrefix("/") ? dir : FileManager.default.currentDirectoryPath + "/" + dir
        var opts = RestoreExecutor.Options(targetDir: (abs as NSString).standardizingPath, port: port, start: args.has("start"))
        opts.keepWork = args.has("keep-work")
        if !args.has("json") { plan.render().forEach { eprint($0) } }
        let exec = RestoreExecutor(ctx: ctx, plan: plan, options: opts)
        let signals = SignalForwarder.install(exec.cancellation)
        defer { signals.cancel() }
        let r = try exec.run()
        let audit = AuditLog(path: ctx.config.auditPath)
        audit.append(AuditEvent(time: ctx.clock.now(), failoverId: nil, hook: "mha-backup", phase: "restore",
                                action: "restore to \(plan.target)", outcome: .ok, durationMs: Int(r.seconds * 1000),
                                message: "into \(r.targetDir) from \(r.chain.joined(separator: " + ")); \(plan.segments.count) binlog segment(s)"))
        if args.has("json") { print(JSON.string(r)); return }
        for w in r.warnings { eprint("mha-backup: restore: warning: \(w)") }
        print("restored to \(plan.target) in \(String(format: "%.1f", r.seconds)) s into \(r.targetDir)")
        if let s = r.server {
            print("mariadbd left running: pid \(s.pid), " + (s.port.map { "127.0.0.1:\($0), " } ?? "") + "socket \(s.socket); stop it with: kill \(s.pid)")
        }
    }
}
