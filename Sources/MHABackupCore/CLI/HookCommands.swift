import Foundation

enum HookWorkerCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard let task = args.positional.first, let id = args["failover"] else {
            throw MBError.usage("hook-worker needs a task (after-stop, after-report, after-switch) and --failover ID")
        }
        signal(SIGHUP, SIG_IGN)
        let w = try HookWorker(ctx: ctx, failoverId: id, task: task)
        switch task {
        case "after-stop": w.afterStop(salvage: args.has("salvage"))
        case "after-report": w.afterReport(conf: args["conf"], success: args.has("success"))
        case "after-switch": w.afterSwitch()
        default: throw MBError.usage("unknown hook-worker task \(q(task))")
        }
        w.audit.sync()
    }
}

enum AuditCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        let events = AuditLog(path: ctx.config.auditPath).read()
        var id = args["failover"]
        if id == nil && (args.has("last") || args.positional.isEmpty) {
            id = events.last(where: { $0.failoverId != nil })?.failoverId
        }
        guard let id else { throw MBError(.noInput, "no failover in the audit trail \(q(ctx.config.auditPath))") }
        let story = events.filter { $0.failoverId == id }.sorted { $0.time < $1.time }
        guard !story.isEmpty else { throw MBError(.noInput, "no audit events for failover \(q(id))") }
        if args.has("json") {
            print(JSON.string(story))
            return
        }
        let rec = FailoverStore(stateDir: ctx.config.stateDir).load(id)
        print("failover \(id)" + (rec.map { ": \($0.kind.rawValue) of \($0.deadMaster.host)\($0.newMaster.map { " to \($0.host)" } ?? ""), \($0.status.rawValue)" } ?? ""))
        let t0 = story[0].time
        for e in story {
            let rel = String(format: "+%7.3fs", e.time.timeIntervalSince(t0))
            let dur = e.durationMs.map { " (\($0) ms)" } ?? ""
            let code = e.exitCode.map { " exit=\($0)" } ?? ""
            print("\(rel)  \(e.hook) \(e.phase)  \(e.action)\(e.host.map { " [\($0)]" } ?? ""): \(e.outcome)\(dur)\(code)\(e.message.map { " — \($0)" } ?? "")")
        }
    }
}
