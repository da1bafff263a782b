import FoundationEssentials
import Glibc
import Dispatch

/// The promotion point of a new master and the timeline change, shared by master_ip_failover
/// `start`, the online switch, and the report worker (when `start` was not ours).
package enum Promotion {
    package struct Read {
        package var coordinates: Coordinates?
        package var readOnly: String
        package var error: String?
    }

    /// The server's own binlog position and GTID: `SHOW MASTER STATUS` (MariaDB, MySQL up to 8.3)
    /// or `SHOW BINARY LOG STATUS` (MySQL 8.2 and later), and the GTID from `@@gtid_binlog_pos`
    /// (MariaDB) or the status row's Executed_Gtid_Set (MySQL). Each call bounded.
    package static func read(server: MHAServer, config: BackupConfig, timeout: TimeInterval) -> Read {
        var c = config
        c.clientTimeout = max(0.5, min(c.clientTimeout, timeout))
        let client = MySQLClient(server: server, config: c)
        // read_only and the GTID in a second client run beside the first (each run is ~12 ms of
        // MHA's time): the new master takes no writes while MHA promotes it, so both see one state.
        let side = SideRow()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { side.set((try? client.query("SELECT @@read_only AS ro, @@gtid_binlog_pos AS g"))?.first) }
        defer { group.wait() }
        var status: BinlogStatus?
        var firstError: Error?
        for sql in ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"] {
            do {
                status = try client.query(sql).first.flatMap(BinlogStatus.init(row:))
                break
            } catch {
                firstError = firstError ?? error
                if (error as? MBError)?.code == .unavailable { break }
            }
        }
        guard let bl = status else {
            return Read(coordinates: nil, readOnly: "?",
                        error: firstError.map { "cannot read the new master's position: \($0)" } ?? "SHOW MASTER STATUS returned nothing (binary log off?)")
        }
        group.wait()
        let row = side.get()
        let gtid = row?.first("g") ?? (bl.executedGtidSet.isEmpty ? nil : bl.executedGtidSet)
        let ro = row?.first("ro") ?? (try? client.scalar("SELECT @@read_only")) ?? "?"
        return Read(coordinates: Coordinates(file: bl.file, position: bl.position, gtid: gtid), readOnly: ro)
    }

    /// Opens the next timeline on `server` (idempotent for the same failover), under the timeline's
    /// lock. With no history yet, the old master's period becomes timeline 1 first.
    package static func open(ctx: Context, server: MHAServer, coordinates: Coordinates?, oldMaster: HookServer?, oldSince: Date?,
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

/// The side query's row, handed from its thread.
private final class SideRow: @unchecked Sendable {
    private let lock = Lock()
    private var row: [String: String?]?
    func set(_ r: [String: String?]?) { lock.withLock { row = r } }
    func get() -> [String: String?]? { lock.withLock { row } }
}
