import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// master_ip_failover `--command=start`: the new master's promotion point and the next timeline.
extension HookRunner {
    func failoverStart() -> Int32 {
        let chain = startChain()
        guard let ctx = h.ctx, let new = args.newMaster else {
            if args.newMaster == nil { h.say("no --new_master_host; nothing to record") }
            return finishChain(chain, default: 0)
        }
        let rec = openRecord(kind: .failover)
        recordPromotion(ctx: ctx, new: new, record: rec, reason: "failover")
        return finishChain(chain, default: 0)
    }

    /// Records the new master's own coordinates (taken before MHA lifts read_only) and opens the
    /// next timeline, so the stream and the backups follow the new master. Idempotent.
    func recordPromotion(ctx: Context, new: HookServer, record rec: FailoverRecord?, reason: String) {
        guard let server = ctx.mha.server(named: new.host) ?? ctx.mha.server(named: new.address) else {
            trouble("record promotion", host: new.host, "new master \(q(new.host)) is not a server in \(q(ctx.mha.path))", kind: .promotionMissing)
            return
        }
        if h.dryRun {
            h.say("plan: record \(server.hostname)'s binlog position and GTID as the promotion point; open the next timeline")
            return
        }
        let t0 = Date()
        let read = h.effects.readPromotion(server: server, config: ctx.config, timeout: ctx.config.hooks.criticalPath)
        if let e = read.error { trouble("record promotion", host: server.hostname, e, kind: .promotionMissing) }
        let coords = read.coordinates
        do {
            let (e, prev) = try Promotion.open(ctx: ctx, server: server, coordinates: coords, oldMaster: rec?.deadMaster,
                                               oldSince: rec?.openedAt, previousEnd: previousMasterEnd(ctx: ctx, record: rec),
                                               failoverId: rec?.id, reason: reason, now: h.clock.now())
            if let id = rec?.id {
                try FailoverStore(stateDir: ctx.config.stateDir).update(id) {
                    $0.newMaster = new
                    if $0.promotion == nil { $0.promotion = coords }
                }
            }
            h.record("promotion recorded", host: server.hostname, outcome: .ok, started: t0,
                     message: "timeline \(e.id) (was \(prev.map { "\($0.id) on \($0.masterHost)" } ?? "none")), "
                        + (coords.map { "\($0.file):\($0.position) gtid \($0.gtid ?? "-")" } ?? "position unknown") + ", read_only=\(read.readOnly)")
        } catch {
            trouble("record promotion", host: server.hostname, "\(error)", kind: .promotionMissing)
        }
    }

    /// The old master's last coordinates: its own position when it is alive (a switch), else the
    /// salvage's last file and size when the salvage is done.
    func previousMasterEnd(ctx: Context, record rec: FailoverRecord?) -> Coordinates? {
        guard let rec else { return nil }
        if rec.kind == .switchover, let s = ctx.mha.server(named: rec.deadMaster.host) ?? ctx.mha.server(named: rec.deadMaster.address),
           let c = h.effects.readPromotion(server: s, config: ctx.config, timeout: 1).coordinates {
            return c
        }
        if let s = FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.salvage, s.state == .done,
           let f = s.lastFile, let p = s.lastPosition {
            return Coordinates(file: f, position: p)
        }
        return nil
    }
}
