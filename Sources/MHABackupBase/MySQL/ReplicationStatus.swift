import FoundationEssentials
import Glibc
import Dispatch

public enum ServerFlavor: String, Sendable, Codable {
    case mariadb, mysql

    public static func from(version: String) -> ServerFlavor {
        version.lowercased().contains("mariadb") ? .mariadb : .mysql
    }
}

/// The server's version as numbers, e.g. 10.11.19 or 8.0.36.
public struct ServerVersion: Sendable, Codable, Comparable, CustomStringConvertible {
    public var major: Int, minor: Int, patch: Int
    public var flavor: ServerFlavor

    public init?(_ s: String) {
        let nums = s.split(whereSeparator: { !$0.isNumber }).prefix(3).compactMap { Int($0) }
        guard nums.count >= 2 else { return nil }
        major = nums[0]; minor = nums[1]; patch = nums.count > 2 ? nums[2] : 0
        flavor = ServerFlavor.from(version: s)
    }

    public static func < (a: ServerVersion, b: ServerVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public var description: String { "\(major).\(minor).\(patch)-\(flavor.rawValue)" }

    /// MySQL 8.0.22+ spells replication as REPLICA/SOURCE; MariaDB keeps SLAVE (10.5 accepts REPLICA too).
    public var replicaStatusSQL: String {
        flavor == .mysql && (major, minor, patch) >= (8, 0, 22) ? "SHOW REPLICA STATUS" : "SHOW SLAVE STATUS"
    }

    /// Restarts only the SQL thread: MySQL 8.0.22+ spells it REPLICA (`START SLAVE` is gone in 8.4);
    /// MariaDB keeps SLAVE.
    public var startReplicaSQLThreadSQL: String {
        flavor == .mysql && (major, minor, patch) >= (8, 0, 22) ? "START REPLICA SQL_THREAD" : "START SLAVE SQL_THREAD"
    }

    /// MySQL 8.2+ renamed SHOW MASTER STATUS (removed in 8.4).
    public var binlogStatusSQL: String {
        flavor == .mysql && (major, minor) >= (8, 2) ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS"
    }

    /// mysqldump 8.0.26+ takes --source-data; MariaDB and older MySQL --master-data.
    public var dumpCoordinatesOption: String {
        flavor == .mysql && (major, minor, patch) >= (8, 0, 26) ? "--source-data=2" : "--master-data=2"
    }
}

/// `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS`, normalized across spellings.
public struct ReplicaStatus: Sendable, Codable, Equatable {
    public var sourceHost: String
    public var sourcePort: Int
    public var ioRunning: String
    public var sqlRunning: Bool
    /// The source's binlog file and position the IO thread has read up to.
    public var sourceLogFile: String
    public var readSourceLogPos: Int64
    /// The source's binlog file and position the SQL thread has executed up to.
    public var relaySourceLogFile: String
    public var execSourceLogPos: Int64
    public var secondsBehind: Int?
    public var lastIOError: String
    public var lastSQLError: String
    /// MariaDB `Gtid_IO_Pos` or MySQL `Retrieved_Gtid_Set`.
    public var gtidIOPos: String
    /// MySQL `Executed_Gtid_Set` (MariaDB reports gtid_slave_pos separately).
    public var executedGtidSet: String
    public var usingGtid: String

    public var ioYes: Bool { ioRunning == "Yes" }

    /// The statement that restarts a SQL thread a backup tool left stopped (`--safe-slave-backup`
    /// stops it, an aborted tool may not restart it), in the server's spelling (`version` nil:
    /// the SLAVE spelling every MariaDB and MySQL before 8.4 takes); nil when the thread runs or
    /// stopped on an error of its own (that is for a DBA to look at, not to skip).
    public func sqlThreadRestart(version: ServerVersion?) -> String? {
        guard !sqlRunning, lastSQLError.isEmpty else { return nil }
        return version?.startReplicaSQLThreadSQL ?? "START SLAVE SQL_THREAD"
    }

    public init?(row: Row) {
        guard let host = row.first("Master_Host", "Source_Host") else { return nil }
        sourceHost = host
        sourcePort = Int(row.first("Master_Port", "Source_Port") ?? "") ?? 3306
        ioRunning = row.first("Slave_IO_Running", "Replica_IO_Running") ?? "No"
        sqlRunning = (row.first("Slave_SQL_Running", "Replica_SQL_Running") ?? "No") == "Yes"
        sourceLogFile = row.first("Master_Log_File", "Source_Log_File") ?? ""
        readSourceLogPos = Int64(row.first("Read_Master_Log_Pos", "Read_Source_Log_Pos") ?? "") ?? 0
        relaySourceLogFile = row.first("Relay_Master_Log_File", "Relay_Source_Log_File") ?? ""
        execSourceLogPos = Int64(row.first("Exec_Master_Log_Pos", "Exec_Source_Log_Pos") ?? "") ?? 0
        secondsBehind = row.first("Seconds_Behind_Master", "Seconds_Behind_Source").flatMap { Int($0) }
        lastIOError = row.first("Last_IO_Error") ?? ""
        lastSQLError = row.first("Last_SQL_Error") ?? ""
        gtidIOPos = ToolOutput.normalizeGtidSet(row.first("Gtid_IO_Pos", "Retrieved_Gtid_Set") ?? "")
        executedGtidSet = ToolOutput.normalizeGtidSet(row.first("Executed_Gtid_Set") ?? "")
        usingGtid = row.first("Using_Gtid", "Auto_Position") ?? ""
    }
}

/// `SHOW MASTER STATUS` / `SHOW BINARY LOG STATUS`.
public struct BinlogStatus: Sendable, Codable, Equatable {
    public var file: String
    public var position: Int64
    /// MySQL's Executed_Gtid_Set column; MariaDB's GTID comes from @@gtid_binlog_pos.
    public var executedGtidSet: String

    public init?(row: Row) {
        guard let f = row.first("File"), let p = row.first("Position").flatMap({ Int64($0) }) else { return nil }
        file = f
        position = p
        executedGtidSet = ToolOutput.normalizeGtidSet(row.first("Executed_Gtid_Set") ?? "")
    }

    public init(file: String, position: Int64, executedGtidSet: String = "") {
        self.file = file
        self.position = position
        self.executedGtidSet = executedGtidSet
    }
}

/// The binlog coordinates a backup or dump recorded.
public struct Coordinates: Sendable, Codable, Equatable {
    public var file: String
    public var position: Int64
    public var gtid: String?

    public init(file: String, position: Int64, gtid: String? = nil) {
        self.file = file
        self.position = position
        self.gtid = gtid
    }
}

/// Parsers for what the backup tools write.
public enum ToolOutput {
    /// `xtrabackup_checkpoints` / `xtrabackup_info`: `key = value` lines. A line without `=` continues
    /// the previous value (xtrabackup_info's `binlog_pos` carries MySQL's GTID set, which the server
    /// prints with `,\n` between UUIDs).
    public static func keyValues(_ text: String) -> [String: String] {
        var d: [String: String] = [:]
        var lastKey: String? = nil
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else {
                let more = line.trimmedBlanks()
                if let k = lastKey, !more.isEmpty { d[k] = (d[k] ?? "") + "\n" + more }
                continue
            }
            let k = line[..<eq].trimmedBlanks()
            d[k] = line[line.index(after: eq)...].trimmedBlanks()
            lastKey = k
        }
        return d
    }

    /// A GTID set as one comparable string: MySQL prints `,\n` between UUIDs (and xtrabackup_slave_info
    /// `, `); `--set-gtid-purged=COMMENTED` dumps prefix it with `+`. MariaDB's `0-1-3,1-2-5` is unchanged.
    static func normalizeGtidSet(_ s: String) -> String {
        var out = s.filter { !$0.isWhitespace }
        if out.hasPrefix("+") { out.removeFirst() }
        return out
    }

    /// `xtrabackup_binlog_info`: `file<TAB>pos[<TAB>gtid]` (MySQL's GTID set may span lines).
    public static func binlogInfo(_ text: String) -> Coordinates? {
        let parts = text.trimmed()
            .split(whereSeparator: { $0 == "\t" }).map { $0.trimmed() }
        guard parts.count >= 2, let pos = Int64(parts[1]) else { return nil }
        let gtid = parts.count > 2 ? normalizeGtidSet(parts[2]) : nil
        return Coordinates(file: parts[0], position: pos, gtid: (gtid?.isEmpty ?? true) ? nil : gtid)
    }

    /// `binlog_pos = filename 'mysql-bin.000001', position '1823', GTID of the last change '0-1-3'`
    /// from `xtrabackup_info`.
    public static func binlogPosFromInfo(_ value: String) -> Coordinates? {
        let quoted = matches(#"'([^']*)'"#, in: value)
        guard quoted.count >= 2, let pos = Int64(quoted[1]) else { return nil }
        let gtid = quoted.count > 2 ? normalizeGtidSet(quoted[2]) : ""
        return Coordinates(file: quoted[0], position: pos, gtid: gtid.isEmpty ? nil : gtid)
    }

    /// `xtrabackup_slave_info`: `CHANGE MASTER TO MASTER_LOG_FILE='f', MASTER_LOG_POS=n;`
    /// (MySQL 8: `CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE=..., SOURCE_LOG_POS=...`; MariaDB GTID form:
    /// `SET GLOBAL gtid_slave_pos = '0-1-3'; CHANGE MASTER TO master_use_gtid = slave_pos`; MySQL GTID
    /// form: `SET GLOBAL gtid_purged='uuid:1-5, uuid2:1-3'; CHANGE MASTER TO MASTER_AUTO_POSITION=1`).
    public static func slaveInfo(_ text: String) -> Coordinates? {
        let file = firstMatch(#"(?:MASTER|SOURCE)_LOG_FILE\s*=\s*'([^']+)'"#, in: text)
        let pos = firstMatch(#"(?:MASTER|SOURCE)_LOG_POS\s*=\s*(\d+)"#, in: text).flatMap { Int64($0) }
        let gtid = (firstMatch(#"gtid_slave_pos\s*=\s*'([^']*)'"#, in: text)
            ?? firstMatch(#"gtid_purged\s*=\s*'([^']*)'"#, in: text)).map(normalizeGtidSet)
        guard let file, let pos else {
            if let gtid { return Coordinates(file: "", position: 0, gtid: gtid) }
            return nil
        }
        return Coordinates(file: file, position: pos, gtid: gtid)
    }

    /// The coordinates a `--master-data=2` / `--source-data=2` dump prints in its header, and the
    /// GTID MariaDB prints further down (`-- SET GLOBAL gtid_slave_pos='0-1-8';`).
    public static func dumpCoordinates(_ text: String) -> Coordinates? {
        let file = firstMatch(#"--\s*CHANGE (?:MASTER|REPLICATION SOURCE)(?: '[^']*')? TO (?:MASTER|SOURCE)_LOG_FILE='([^']+)'"#, in: text)
        let pos = firstMatch(#"--\s*CHANGE (?:MASTER|REPLICATION SOURCE)(?: '[^']*')? TO (?:MASTER|SOURCE)_LOG_FILE='[^']+',\s*(?:MASTER|SOURCE)_LOG_POS=(\d+)"#, in: text).flatMap { Int64($0) }
        let gtid = (firstMatch(#"--\s*SET GLOBAL gtid_(?:slave|binlog)_pos\s*=\s*'([^']*)'"#, in: text)
            ?? firstMatch(#"SET @@GLOBAL.GTID_PURGED=(?:/\*!80000 '\+'\*/ )?'([^']*)'"#, in: text))
            .map(normalizeGtidSet)
        guard let file, let pos else { return nil }
        return Coordinates(file: file, position: pos, gtid: gtid)
    }

    package static func firstMatch(_ pattern: String, in text: String) -> String? {
        matches(pattern, in: text).first
    }

    package static func matches(_ pattern: String, in text: String) -> [String] {
        guard let re = try? Regex(pattern).ignoresCase() else { return [] }
        return text.matches(of: re).compactMap { m in
            m.output.count > 1 ? m.output[1].substring.map(String.init) : nil
        }
    }
}
