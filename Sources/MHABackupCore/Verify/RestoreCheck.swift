import Foundation
import MHABackupBase
import MHABackupFailover

/// What `verify --level restore` found for one backup.
public struct RestoreCheckResult: Codable, Sendable {
    public var ok: Bool
    /// Restore time (RTO): unpack, prepare, start of the server.
    public var seconds: Double
    public var tables: Int
    /// Tables whose checksum was compared with the source (0 when the source moved on).
    public var compared: Int
    public var problems: [String]
    public var notes: [String]
    public var steps: [RestoreResult.Step] = []
}

/// `verify --level restore` for one backup: restore its chain into a scratch mariadbd on a free
/// loopback port and a temp datadir, read every table (`CHECKSUM TABLE`), compare with the source
/// when the source is still at the backup's coordinates, stop the server and remove everything.
public enum RestoreCheck {
    public static func run(ctx: Context, backupId: String, log: @escaping (String) -> Void) throws -> RestoreCheckResult {
        let plan = try RestorePlanner.forStore(ctx).plan(target: .backupPoint, backupId: backupId)
        // A private folder mariadbd (as mysql) can reach: the datadir and the work folder go inside.
        let folder: String
        do { folder = try ScratchServer.makePrivateDir(in: ctx.config.restoreScratchDir, prefix: "mha-backup-verify") } catch let e as MBError {
            throw MBError(e.code, e.message + " ([restore] scratch_dir)")
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try ScratchServer.chownToMysql([folder], runner: ProcessRunner())
        var opts = RestoreExecutor.Options(targetDir: "\(folder)/data", port: try ScratchServer.freePort())
        opts.keepServerForCaller = true
        let exec = RestoreExecutor(ctx: ctx, plan: plan, options: opts)
        exec.log = log
        defer { exec.discard() }
        let restored = try exec.run()
        guard let server = exec.server else { throw MBError(.software, "the scratch server is not running after the restore") }

        var problems: [String] = []
        var notes: [String] = []
        let tables = try server.query(userTablesSQL).compactMap(\.first)
        if tables.isEmpty { notes.append("the backup holds no user tables") }
        var mine: [String: String] = [:]
        for t in tables {
            do {
                if let row = try server.query("CHECKSUM TABLE \(t)").first, row.count == 2 { mine[row[0]] = row[1] }
                if mine[unquoted(t)] == nil || mine[unquoted(t)] == "NULL" { problems.append("table \(t): CHECKSUM TABLE returned no checksum") }
            } catch {
                problems.append("table \(t): \((error as? MBError)?.message ?? "\(error)")")
            }
        }

        var compared = 0
        let m = plan.base
        if let src = ctx.mha.server(named: m.sourceHost) {
            let client = MySQLClient(server: src, config: ctx.config)
            do {
                let at0 = try position(client)
                if let want = m.binlog, let at0, at0.file == want.file, at0.position == want.position {
                    var theirs: [String: String] = [:]
                    for t in tables {
                        if let row = try client.query("CHECKSUM TABLE \(t)").first {
                            theirs[row.first("Table") ?? ""] = row.first("Checksum") ?? ""
                        }
                    }
                    let at1 = try position(client)
                    if at1?.file == at0.file, at1?.position == at0.position {
                        for (t, c) in mine.sorted(by: { $0.key < $1.key }) {
                            guard let s = theirs[t] else { continue }
                            compared += 1
                            if s != c { problems.append("table \(t): checksum \(c) in the restore, \(s) on the source \(src.hostname)") }
                        }
                        let sourceTables = try client.query(userTablesSQL).compactMap { $0.first("t") }
                        for t in sourceTables where !tables.contains(t) { problems.append("table \(t) is on the source but not in the restore") }
                    } else {
                        notes.append("the source \(src.hostname) wrote while its tables were read; checksums not compared")
                    }
                } else {
                    notes.append("the source \(src.hostname) moved on since the backup (now at \(at0.map { "\($0.file):\($0.position)" } ?? "?")); checksums not compared")
                }
            } catch {
                notes.append("the source \(src.hostname) cannot be asked: \((error as? MBError)?.message ?? "\(error)"); checksums not compared")
            }
        } else {
            notes.append("the source \(m.sourceHost) is not a server of the MHA config; checksums not compared")
        }
        return RestoreCheckResult(ok: problems.isEmpty, seconds: restored.seconds, tables: tables.count, compared: compared,
                                  problems: problems, notes: notes, steps: restored.steps)
    }

    static func position(_ c: MySQLClient) throws -> Coordinates? {
        try c.query("SHOW MASTER STATUS").first.flatMap(BinlogStatus.init(row:)).map { Coordinates(file: $0.file, position: $0.position) }
    }

    /// Every base table outside the system schemas, as `` `db`.`t` ``.
    static let userTablesSQL = """
        SELECT CONCAT('`', REPLACE(table_schema, '`', '``'), '`.`', REPLACE(table_name, '`', '``'), '`') AS t
        FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND engine <> 'SEQUENCE'
          AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
        ORDER BY 1
        """

    /// CHECKSUM TABLE names a table `db.t` without quotes.
    static func unquoted(_ t: String) -> String {
        t.replacingOccurrences(of: "`.`", with: ".").trimmingCharacters(in: CharacterSet(charactersIn: "`")).replacingOccurrences(of: "``", with: "`")
    }
}
