import Foundation

/// The promotion point of a new master and the timeline change, shared by master_ip_failover
/// `start`, the online switch, and the report worker (when `start` was not ours).
enum Promotion {
    struct Read {
        var coordinates: Coordinates?
        var readOnly: String
        var error: String?
    }

    /// The server's own binlog position and GTID (SHOW MASTER STATUS, or MySQL 8.4's spelling).
    static func read(server: MHAServer, config: BackupConfig, timeout: TimeInterval) -> Read {
        var c = config
        c.clientTimeout = max(0.5, min(c.clientTimeout, timeout))
        let client = MySQLClient(server: server, config: c)
        do {
            let rows = try client.query("SELECT @@gtid_binlog_pos AS g, @@read_only AS ro")
            let bl = try client.query("SHOW MASTER STATUS").first.flatMap(BinlogStatus.init(row:))
            return Read(coordinates: bl.map { Coordinates(file: $0.file, position: $0.position, gtid: rows.first?.first("g")) },
                        readOnly: rows.first?.first("ro") ?? "?",
                        error: bl == nil ? "SHOW MASTER STATUS returned nothing (binary log off?)" : nil)
        } catch {
            if let rows = try? client.query("SHOW BINARY LOG STATUS"), let bl = rows.first.flatMap(BinlogStatus.init(row:)) {
                return Read(coordinates: Coordinates(file: bl.file, position: bl.position,
                                                     gtid: bl.executedGtidSet.isEmpty ? nil : bl.executedGtidSet), readOnly: "?")
            }
            return Read(coordinates: nil, readOnly: "?", error: "cannot read the new master's position: \(error)")
        }
    }

    /// Opens the next timeline on `server` (idempotent for the same failover), under the timeline's
    /// lock. With no history yet, the old master's period becomes timeline 1 first.
    static func open(ctx: Context, server: MHAServer, coordinates: Coordinates?, oldMaster: HookServer?, oldSince: Date?,
                     previousEnd: Coordinates?, failoverId: String?, reason: String, now: Date) throws
        -> (entry: TimelineEntry, previous: TimelineEntry?) {
        try Timeline.update(ctx.config.timelinePath) { tl in
            if tl.entries.isEmpty, let old = oldMaster,
               let oldServer = ctx.mha.server(named: old.host) ?? ctx.mha.server(named: old.address) {
                tl.promote(host: oldServer.hostname, port: oldServer.port, at: oldSince ?? now, promotion: nil,
                           failoverId: nil, reason: "initial: the master before this \(reason)")
            }
            let prev = tl.current
            let e = tl.promote(host: server.hostname, port: server.port, at: now, promotion: coordinates,
                               previousMasterEnd: previousEnd, failoverId: failoverId, reason: reason)
            return (e, prev?.id == e.id ? tl.entries.dropLast().last : prev)
        }
    }
}
