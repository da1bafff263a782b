import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

enum BackupCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        guard let t = args.positional.first, let type = BackupType(rawValue: t), args.positional.count == 1 else {
            throw MBError.usage("backup needs 'full' or 'incremental'")
        }
        var req = BackupRequest(type: type)
        if let m = args["method"] {
            guard let mm = BackupMethod(rawValue: m) else {
                throw MBError.usage("option '--method' must be mariabackup, xtrabackup or dump, got \(q(m))")
            }
            req.method = mm
        }
        if let c = args["compression"] {
            guard let cc = Compression(rawValue: c) else {
                throw MBError.usage("option '--compression' must be zstd, lz4, gzip or none, got \(q(c))")
            }
            req.compression = cc
        }
        req.source = args["source"]
        req.ignoreFence = args.has("ignore-fence")
        req.waitForFence = !args.has("no-wait-fence")
        if let id = args["job-id"] { req.id = id }
        if let w = try args.int("wait", 0...604_800) { req.waitForSlot = TimeInterval(w) }
        let engine = BackupEngine(ctx: ctx)
        defer { MetricsWriter.refresh(ctx.config, after: "backup") }
        let m: Manifest
        do { m = try engine.run(req) } catch let e as MBError { BackupAlerts.failed(ctx, type: type, error: e); throw e }
        if args.has("json") {
            print(JSON.string(m))
        } else {
            print("backup \(m.id) complete: \(m.type.rawValue) \(m.method.rawValue) of \(m.sourceHost):\(m.sourcePort), \(formatBytes(m.compressedBytes)) in \(String(format: "%.1f", m.durationSeconds ?? 0)) s"
                  + (m.binlog.map { ", binlog \($0.file):\($0.position)\($0.gtid.map { " gtid \($0)" } ?? "")" } ?? ""))
        }
    }
}

enum ListCommand {
    /// `restore ok 11-25 17:41` (RTO in the record): the last verification that says most.
    static func verified(_ folder: String) -> String {
        guard let r = Verifier.lastRecord(in: folder) else { return "-" }
        return "\(r.level.rawValue) \(r.ok ? "ok" : "FAILED") \(Formatters.shared.formatUTC(r.checkedAt, "MM-dd HH:mm"))"
    }

    /// `  tiers=hot,warm`: where the backup's copies are (hot: every data file in the store).
    static func tiers(_ m: Manifest, folder: String) -> String {
        let hot = m.files.allSatisfy { FileManager.default.fileExists(atPath: "\(folder)/\($0.name)") }
        let all = (hot ? ["hot"] : []) + (m.tiers ?? []).map(\.tier)
        return m.tiers == nil ? "" : "  tiers=\(all.joined(separator: ","))"
    }

    static func run(_ ctx: Context, json: Bool) throws {
        let active = Set(JobRegistry(dir: ctx.config.jobsDir).active().compactMap(\.backupId))
        let all = Catalog(dir: ctx.config.backupsDir).all(activeJobs: active)
        if json {
            print(JSON.string(all))
            return
        }
        if all.isEmpty { print("no backups in \(ctx.config.backupsDir)"); return }
        print("ID                                            STATUS    TYPE         METHOD       SOURCE               TL  SIZE        VERIFIED                  BINLOG")
        let catalog = Catalog(dir: ctx.config.backupsDir)
        for m in all {
            let pad = { (s: String, n: Int) in s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            let bl = m.binlog.map { "\($0.file):\($0.position)\($0.gtid.map { " [\($0)]" } ?? "")" } ?? "-"
            print("\(pad(m.id, 45)) \(pad(m.status.rawValue, 9)) \(pad(m.type.rawValue, 12)) \(pad(m.method.rawValue, 12)) \(pad("\(m.sourceHost):\(m.sourcePort)", 20)) \(pad(m.timeline.map(String.init) ?? "-", 3)) \(pad(formatBytes(m.compressedBytes), 11)) \(pad(verified(catalog.folder(m.id)), 25)) \(bl)"
                  + (m.parent.map { "  parent=\($0)" } ?? "") + tiers(m, folder: catalog.folder(m.id)) + (m.status == .complete ? "" : "  (\(m.message ?? ""))"))
        }
    }
}

enum JobsCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        let reg = JobRegistry(dir: ctx.config.jobsDir)
        guard let sub = args.positional.first else {
            let jobs = reg.all()
            if args.has("json") { print(JSON.string(jobs)); return }
            if jobs.isEmpty { print("no jobs"); return }
            let now = Date()
            for j in jobs {
                print("\(j.id)  \(j.state.rawValue)  \(j.phase.rawValue)  \(j.kind.rawValue) \(j.method.rawValue) from \(j.sourceHost):\(j.sourcePort)  pid \(j.pid) pgid \(j.pgid)  \(formatBytes(j.bytes))  \(Int(now.timeIntervalSince(j.startedAt))) s" + (j.message.map { "  (\($0))" } ?? ""))
            }
            return
        }
        guard args.positional.count == 2 else { throw MBError.usage("jobs \(sub) needs a job id") }
        let id = args.positional[1]
        let control = JobControl(ctx: ctx)
        switch sub {
        case "pause": try control.pause(id); print("job \(id) paused")
        case "resume": try control.resume(id); print("job \(id) resumed")
        case "abort": try control.abort(id); print("job \(id) aborted")
        default: throw MBError.usage("unknown jobs command \(q(sub)); use pause, resume or abort")
        }
    }
}

enum FenceCommand {
    static func run(_ ctx: Context, args: Arguments) throws {
        let path = ctx.config.fencePath
        let now = ctx.clock.now()
        switch args.positional.first ?? "status" {
        case "status":
            if let f = Fence.load(path) {
                if args.has("json") { print(JSON.string(f)) } else { print(f.describe(path: path, now: now)) }
            } else {
                print(args.has("json") ? "null" : "no fence")
            }
        case "up":
            let ttl = try args.int("ttl", 1...604_800).map(TimeInterval.init) ?? ctx.config.fenceTTL
            let f = try Fence.raise(at: path, failoverId: nil, reason: args["reason"] ?? "raised by hand", ttl: ttl, now: now)
            print(f.describe(path: path, now: now))
        case "down":
            if let f = Fence.lift(at: path) { print("lifted: \(f.describe(path: path, now: now))") } else { print("no fence") }
        case let s:
            throw MBError.usage("unknown fence command \(q(s)); use status, up or down")
        }
    }
}
