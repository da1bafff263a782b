import Foundation
import MHABackupBase

/// Sessions of other tools (or people) holding a lock that makes MHA wait with no bound on a
/// surviving server: FTWRL, `BACKUP STAGE`, `LOCK TABLES … READ|WRITE`.
/// Exact with MariaDB's `information_schema.METADATA_LOCK_INFO` (plugin metadata_lock_info).
/// Without it the holder cannot be seen, only its victims: when sessions wait for a backup,
/// global-read or table metadata lock, the holders are the idle sessions (idle at least the
/// grace) of users that are neither ours, MHA's, replication's nor the server's own.
public enum ForeignLocks {
    public struct Holder: Sendable, Equatable, CustomStringConvertible {
        public var id: Int
        public var user: String
        public var host: String
        public var mode: String
        public var info: String
        public var idleSeconds: Int
        public var description: String {
            "session \(id) of \(q(user))@\(host) holds \(mode)\(info.isEmpty ? "" : " (\(info))")"
        }
    }

    public struct Scan: Sendable {
        public var holders: [Holder] = []
        /// From METADATA_LOCK_INFO (true), or inferred from waiting sessions (false).
        public var exact = false
        /// Sessions waiting for such a lock (the evidence when not exact).
        public var waiters: [String] = []
    }

    static let backupModes = ["MDL_BACKUP_FTWRL1", "MDL_BACKUP_FTWRL2", "MDL_BACKUP_START", "MDL_BACKUP_FLUSH",
                              "MDL_BACKUP_WAIT_FLUSH", "MDL_BACKUP_WAIT_DDL", "MDL_BACKUP_WAIT_COMMIT", "MDL_BACKUP_BLOCK_DDL"]
    /// LOCK TABLES … READ takes SHARED_READ_ONLY, … WRITE SHARED_NO_READ_WRITE: nothing else does.
    static let tableModes = ["MDL_SHARED_READ_ONLY", "MDL_SHARED_NO_READ_WRITE"]
    static let waitStates = ["Waiting for backup lock", "Waiting for global read lock", "Waiting for table metadata lock",
                             "Waiting for commit lock", "Waiting for table level lock"]
    static let serverUsers: Set<String> = ["system user", "event_scheduler", "unauthenticated user", "", "mha-backup-probe"]

    /// - ours: never a holder (our own jobs are paused or aborted by the hooks).
    /// - quietUsers: also excluded when inferring (MHA's and replication's idle sessions look alike).
    public static func scan(client: MySQLClient, ours: Set<String>, quietUsers: Set<String>, minIdle: Int) throws -> Scan {
        let modeList = (backupModes + tableModes).map { "'\($0)'" }.joined(separator: ",")
        let exact = """
            SELECT p.ID AS id, p.USER AS user, p.HOST AS host, m.LOCK_MODE AS mode,
                   CONCAT(m.LOCK_TYPE, IF(m.TABLE_NAME <> '', CONCAT(' on ', m.TABLE_SCHEMA, '.', m.TABLE_NAME), ''),
                          IF(p.INFO IS NULL, '', CONCAT(', running ', LEFT(p.INFO, 80)))) AS info, p.TIME AS idle
            FROM information_schema.METADATA_LOCK_INFO m JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
            WHERE m.LOCK_MODE IN (\(modeList)) AND p.ID <> CONNECTION_ID()
            """
        var result = Scan()
        if let rows = try? client.query(exact) {
            result.exact = true
            result.holders = holders(rows, excluding: ours)
            return result
        }
        let states = waitStates.map { "'\($0)'" }.joined(separator: ",")
        let rows = try client.query("""
            SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, COALESCE(STATE, '') AS state,
                   COALESCE(INFO, '') AS info, TIME AS idle
            FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()
            """)
        // Running a lock statement right now: named by its statement.
        let lockStatement = { (info: String) -> Bool in
            let u = info.uppercased()
            return (u.hasPrefix("FLUSH TABLES") && u.contains("READ LOCK")) || u.hasPrefix("BACKUP STAGE") || u.hasPrefix("LOCK TABLE")
        }
        result.waiters = rows.filter { r in waitStates.contains(where: { (r.first("state") ?? "").hasPrefix($0) }) }
            .map { "session \($0.first("id") ?? "?") of \(q($0.first("user") ?? "")) \($0.first("state") ?? "")" }
        var candidates: [Row] = rows.filter { lockStatement($0.first("info") ?? "") && !waitStates.contains($0.first("state") ?? "") }
        if !result.waiters.isEmpty {
            candidates += rows.filter { r in
                r.first("command") == "Sleep" && (Int(r.first("idle") ?? "") ?? 0) >= minIdle
            }
        }
        result.holders = holders(candidates.map { r in
            var r = r
            r["mode"] = .some(lockStatement(r.first("info") ?? "") ? "a lock (statement)" : "an idle session while writers wait")
            return r
        }, excluding: ours.union(quietUsers))
        return result
    }

    static func holders(_ rows: [Row], excluding: Set<String>) -> [Holder] {
        var seen = Set<Int>()
        return rows.compactMap { r -> Holder? in
            guard let id = r.first("id").flatMap({ Int($0) }), !seen.contains(id) else { return nil }
            let user = r.first("user") ?? ""
            if excluding.contains(user) || serverUsers.contains(user) { return nil }
            seen.insert(id)
            return Holder(id: id, user: user, host: r.first("host") ?? "", mode: r.first("mode") ?? "",
                          info: r.first("info") ?? "", idleSeconds: Int(r.first("idle") ?? "") ?? 0)
        }
    }
}

/// When to kill a holder: seen holding for at least the grace (pure; the watch feeds it).
public struct ForeignLockGrace: Sendable {
    public var grace: TimeInterval
    private var firstSeen: [String: Date] = [:]

    public init(grace: TimeInterval) { self.grace = grace }

    /// Records the holders seen now; returns those held for the grace (keys "host#id").
    public mutating func due(_ seen: [String], now: Date) -> [String] {
        let current = Set(seen)
        firstSeen = firstSeen.filter { current.contains($0.key) }
        for k in seen where firstSeen[k] == nil { firstSeen[k] = now }
        return seen.filter { now.timeIntervalSince(firstSeen[$0]!) >= grace }
    }
}

extension HookWorker {
    /// Watches every surviving server for foreign lock holders while the failover is open (at
    /// most `foreign_lock_watch_seconds`): each is named in the audit and an alert; with
    /// `kill_foreign_backup_locks = yes` (the default) killed once it held for the grace.
    func startForeignLockWatch() -> DispatchGroup {
        let group = DispatchGroup()
        let survivors = ctx.mha.servers.filter { !isDead($0.hostname) }
        let hooks = ctx.config.hooks
        guard !survivors.isEmpty, hooks.foreignLockWatch > 0 else { return group }
        let ours = Set([credentialsUser(ctx.config.credentials)].compactMap { $0 })
        let quiet = Set(["user", "repl_user"].compactMap { ctx.mha.defaults[$0].map(MHAAppConfig.mhaValue) })
        group.enter()
        Thread { [self] in
            defer { group.leave() }
            let end = Date().addingTimeInterval(hooks.foreignLockWatch)
            var grace = ForeignLockGrace(grace: hooks.foreignLockGrace)
            var named = Set<String>()
            var killed = Set<String>()
            var c = ctx.config
            c.clientTimeout = min(c.clientTimeout, 3)
            while Date() < end {
                var seen: [String] = []
                var byKey: [String: (MHAServer, ForeignLocks.Holder, Bool)] = [:]
                for s in survivors {
                    let client = MySQLClient(server: s, config: c)
                    guard let scan = try? ForeignLocks.scan(client: client, ours: ours, quietUsers: quiet,
                                                            minIdle: Int(hooks.foreignLockGrace)) else { continue }
                    for hld in scan.holders {
                        let k = "\(s.hostname)#\(hld.id)"
                        seen.append(k)
                        byKey[k] = (s, hld, scan.exact)
                        if !named.contains(k) {
                            named.insert(k)
                            let how = scan.exact ? "metadata_lock_info" : "no metadata_lock_info: inferred, \(scan.waiters.count) session(s) waiting: \(scan.waiters.prefix(3).joined(separator: "; "))"
                            log("foreign lock", host: s.hostname, outcome: .warning,
                                message: "\(hld) [\(how)]" + (hooks.killForeignBackupLocks
                                    ? "; killed if still held after \(Int(hooks.foreignLockGrace)) s"
                                    : " (kill_foreign_backup_locks = no: left alone; MHA waits for it)"))
                            alert(hooks.killForeignBackupLocks ? .warning : .critical,
                                  "foreign lock on \(s.hostname) during failover: \(hld)", kind: .foreignBackupLock)
                        }
                    }
                }
                if hooks.killForeignBackupLocks {
                    for k in grace.due(seen, now: Date()) where !killed.contains(k) {
                        guard let (s, hld, _) = byKey[k] else { continue }
                        let t0 = Date()
                        let ok = (try? MySQLClient(server: s, config: c).execute("KILL \(hld.id)")) != nil
                        if ok { killed.insert(k) }
                        log("kill foreign lock holder", host: s.hostname, outcome: ok ? .ok : .failed, started: t0,
                            message: "\(hld) after \(Int(hooks.foreignLockGrace)) s")
                    }
                }
                if store.load(record.id)?.status != .open { break }
                usleep(500_000)
            }
        }.start()
        return group
    }
}
