import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// Real captured outputs in `Fixtures/` (see Fixtures/SOURCES.md for where each came from).
enum Fixture {
    /// The fixture's URL: the test bundle's copy (`.copy("Fixtures")`), else the source tree.
    static func url(_ name: String) throws -> URL {
        if let u = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"),
           FileManager.default.fileExists(atPath: u.path) {
            return u
        }
        let local = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: local.path) else {
            throw MBError(.noInput, "fixture \(name) not found")
        }
        return local
    }

    /// The fixture's bytes as text, exactly.
    static func raw(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: url(name)), as: UTF8.self)
    }

    /// The fixture without its `# source:` provenance lines (MySQL/XtraBackup files carry one).
    static func text(_ name: String) throws -> String {
        try raw(name).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("# source:") }.joined(separator: "\n")
    }
}

@Suite("fixtures load from the test bundle")
struct FixtureLoadingTests {
    @Test("Bundle.module holds Fixtures/ and the files are byte-exact captures")
    func bundleHasFixtures() throws {
        let u = try #require(Bundle.module.url(forResource: "mariadb-version.batch",
                                               withExtension: "txt", subdirectory: "Fixtures"))
        #expect(try String(contentsOf: u, encoding: .utf8) == "@@version\n10.11.19-MariaDB-0+deb12u1-log\n")
        // 28 bytes, as `ls -l` reported for the real xtrabackup_binlog_info.
        #expect(try Data(contentsOf: Fixture.url("mariabackup-full-xtrabackup_binlog_info.txt")).count == 28)
    }
}

// MARK: - batch and vertical result text

@Suite("ResultText.parseBatch on real mariadb --batch output")
struct ParseBatchTests {
    @Test("SHOW SLAVE STATUS, running: one row, 54 columns, NULL and empty kept apart")
    func slaveStatusRunning() throws {
        let rows = ResultText.parseBatch(try Fixture.text("mariadb-slave-status-running.batch.txt"))
        #expect(rows.count == 1)
        let r = try #require(rows.first)
        #expect(r.count == 54)
        #expect(r["Slave_IO_State"] == .some("Waiting for master to send event"))
        #expect(r["Master_Host"] == .some("127.0.0.31"))
        #expect(r["Master_Port"] == .some("3399"))
        #expect(r["Read_Master_Log_Pos"] == .some("2200"))
        #expect(r["Exec_Master_Log_Pos"] == .some("2200"))
        #expect(r["Seconds_Behind_Master"] == .some("0"))
        #expect(r["SQL_Remaining_Delay"] == .some(nil))        // NULL
        #expect(r["Gtid_IO_Pos"] == .some(""))                  // empty, not NULL
        #expect(r["Replicate_Rewrite_DB"] == .some(""))         // the last column, empty at line end
        #expect(r["Slave_SQL_Running_State"] == .some("Slave has read all relay log; waiting for more updates"))
        #expect(r["No_Such_Column"] == nil)
    }

    @Test("escaped TAB, newline and backslash come back; NULL is nil; '' is empty")
    func escapes() throws {
        let rows = ResultText.parseBatch(try Fixture.text("mariadb-select-escapes.batch.txt"))
        #expect(rows.count == 9)
        let v = rows.map { $0["v"] ?? .some("<missing>") }
        #expect(v[0] == "one")
        #expect(v[3] == "tab\there")
        #expect(v[4] == nil)                   // SQL NULL
        #expect(v[5] == "line1\nline2")
        #expect(v[6] == "back\\slash")
        // The client prints the string 'NULL' exactly like SQL NULL; batch mode cannot tell them apart.
        #expect(v[7] == nil)
        #expect(v[8] == "")
        #expect(rows.map { $0["id"] ?? nil } == ["1", "2", "3", "4", "5", "6", "7", "8", "9"])
    }

    @Test("SHOW MASTER STATUS and @@gtid_binlog_pos")
    func masterStatus() throws {
        let rows = ResultText.parseBatch(try Fixture.text("mariadb-master-status.batch.txt"))
        #expect(rows.count == 1)
        #expect(rows[0] == ["File": "mysql-bin.000001", "Position": "2200", "Binlog_Do_DB": "", "Binlog_Ignore_DB": ""])
        let g = ResultText.parseBatch(try Fixture.text("mariadb-gtid-binlog-pos.batch.txt"))
        #expect(g.count == 1)
        #expect(g[0].first("@@gtid_binlog_pos") == "0-1-10")
        let rp = ResultText.parseBatch(try Fixture.text("mariadb-gtid-replica-pos.batch.txt"))
        #expect(rp[0] == ["@@gtid_slave_pos": "0-1-11", "@@gtid_binlog_pos": "", "@@gtid_current_pos": "0-1-11"])
    }

    @Test("a raw CR at the end of a value (the client does not escape CR) does not glue two rows together")
    func carriageReturn() {
        // Bytes as `mariadb --batch -e "SELECT 1 AS id, CONCAT('abc', CHAR(13)) AS v UNION ALL SELECT 2, 'def'"`
        // printed them (checked with od -c on 10.11.19): "id\tv\n1\tabc\r\n2\tdef\n".
        let rows = ResultText.parseBatch("id\tv\n1\tabc\r\n2\tdef\n")
        #expect(rows.count == 2)
        #expect(rows.first?["v"] == .some("abc\r"))
        #expect(rows.last?["v"] == .some("def"))
    }

    @Test("no output (a query that returns no rows prints nothing in batch mode) is no rows")
    func empty() {
        #expect(ResultText.parseBatch("").isEmpty)
        #expect(ResultText.parseBatch("File\tPosition\n").isEmpty)
    }
}

@Suite("ResultText.parseVertical on real -E / \\G output")
struct ParseVerticalTests {
    @Test("MariaDB -E equals --batch for the same state (running, stopped, IO error)")
    func verticalEqualsBatch() throws {
        for state in ["running", "stopped", "io-error"] {
            let v = ResultText.parseVertical(try Fixture.text("mariadb-slave-status-\(state).vertical.txt"))
            let b = ResultText.parseBatch(try Fixture.text("mariadb-slave-status-\(state).batch.txt"))
            #expect(v.count == 1, "\(state)")
            #expect(v == b, "\(state)")
        }
    }

    @Test("MySQL 8.0 manual SHOW REPLICA STATUS\\G: 60 keys, prompt line ignored, empty values")
    func mysql80Manual() throws {
        let rows = ResultText.parseVertical(try Fixture.text("mysql80-show-replica-status.vertical.txt"))
        #expect(rows.count == 1)
        let r = try #require(rows.first)
        #expect(r.count == 60)
        #expect(r["Source_Host"] == .some("127.0.0.1"))
        #expect(r["Replica_IO_Running"] == .some("Yes"))
        #expect(r["Replicate_Do_DB"] == .some(""))              // "Key:" without a trailing space
        #expect(r["SQL_Remaining_Delay"] == .some(nil))
        #expect(r["Replica_SQL_Running_State"] == .some("Replica has read all relay log; waiting for more updates"))
        #expect(r["Network_Namespace"] == .some(""))
        #expect(r["Executed_Gtid_Set"] == .some("73f86016-978b-11ee-ade5-8d2a2a562feb:1-3"))
    }

    @Test("multi-line Executed_Gtid_Set joins with newlines; '1 row in set' is not part of the last value")
    func multiLineGtid() throws {
        let rows = ResultText.parseVertical(try Fixture.text("mysql56-show-slave-status-multiline-gtid.vertical.txt"))
        #expect(rows.count == 1)
        let r = try #require(rows.first)
        #expect(r.count == 54)
        #expect(r["Executed_Gtid_Set"] == .some(
            "2f95ae0b-8816-11e4-bf96-c81f66be0cd9:1-950522:950524-1069874:1069876-7871283,\n"
            + "48cb97b2-a1c7-11e7-b71e-0050563a5be6:1-6,\n"
            + "f9614796-8822-11e4-bfea-c81f66bdf749:1-13"))
        #expect(r["Auto_Position"] == .some("1"))
        #expect(r["Slave_IO_State"] == .some(""))               // "Key: " with the real trailing space
        #expect(r["Last_IO_Error"] == .some("Got fatal error 1236 from master when reading data from binary log: "
            + "'The slave is connecting using CHANGE MASTER TO MASTER_AUTO_POSITION = 1, but the master has purged "
            + "binary logs containing GTIDs that the slave requires.'"))
    }

    @Test("SHOW MASTER STATUS\\G from the manual ends with '1 row in set'; the GTID set stays clean")
    func masterStatusTrailer() throws {
        let rows = ResultText.parseVertical(try Fixture.text("mysql80-show-master-status.vertical.txt"))
        #expect(rows == [[
            "File": "source-bin.000002", "Position": "1307", "Binlog_Do_DB": "test",
            "Binlog_Ignore_DB": "manual, mysql", "Executed_Gtid_Set": "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5",
        ]])
    }

    @Test("a CRLF copy of a capture parses the same")
    func crlf() throws {
        let lf = try Fixture.text("mariadb-slave-status-running.vertical.txt")
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(crlf.utf8.count == lf.utf8.count + lf.filter { $0 == "\n" }.count)
        #expect(ResultText.parseVertical(crlf) == ResultText.parseVertical(lf))
        #expect(ResultText.parseVertical(crlf).first?["Master_Host"] == .some("127.0.0.31"))
    }

    @Test("two outputs pasted one after the other are two rows")
    func twoRows() throws {
        let text = try Fixture.text("mariadb-slave-status-running.vertical.txt")
            + Fixture.text("mariadb-slave-status-io-error.vertical.txt")
        let rows = ResultText.parseVertical(text)
        #expect(rows.count == 2)
        #expect(rows.map { $0["Master_Port"] ?? nil } == ["3399", "3401"])
    }

    @Test("no row marker means no rows")
    func noRows() {
        #expect(ResultText.parseVertical("").isEmpty)
        #expect(ResultText.parseVertical("Empty set (0.00 sec)\n").isEmpty)
    }
}

// MARK: - replica and binlog status

@Suite("ReplicaStatus(row:) on real outputs")
struct ReplicaStatusTests {
    @Test("MariaDB running replica")
    func mariadbRunning() throws {
        let row = try #require(ResultText.parseBatch(try Fixture.text("mariadb-slave-status-running.batch.txt")).first)
        let s = try #require(ReplicaStatus(row: row))
        #expect(s.sourceHost == "127.0.0.31")
        #expect(s.sourcePort == 3399)
        #expect(s.ioRunning == "Yes")
        #expect(s.ioYes)
        #expect(s.sqlRunning)
        #expect(s.sourceLogFile == "mysql-bin.000001")
        #expect(s.readSourceLogPos == 2200)
        #expect(s.relaySourceLogFile == "mysql-bin.000001")
        #expect(s.execSourceLogPos == 2200)
        #expect(s.secondsBehind == 0)
        #expect(s.lastIOError == "")
        #expect(s.lastSQLError == "")
        #expect(s.gtidIOPos == "")
        #expect(s.executedGtidSet == "")
        #expect(s.usingGtid == "No")
        // The vertical capture of the same state gives the same status.
        let v = try #require(ResultText.parseVertical(try Fixture.text("mariadb-slave-status-running.vertical.txt")).first)
        #expect(ReplicaStatus(row: v) == s)
    }

    @Test("MariaDB stopped replica: both threads No, Seconds_Behind_Master NULL")
    func mariadbStopped() throws {
        let row = try #require(ResultText.parseBatch(try Fixture.text("mariadb-slave-status-stopped.batch.txt")).first)
        let s = try #require(ReplicaStatus(row: row))
        #expect(s.ioRunning == "No")
        #expect(!s.ioYes)
        #expect(!s.sqlRunning)
        #expect(s.secondsBehind == nil)
        #expect(s.readSourceLogPos == 2200)
        #expect(s.execSourceLogPos == 2200)
        #expect(s.sourcePort == 3399)
    }

    @Test("MariaDB replica pointed at a dead port: IO Connecting, error text kept")
    func mariadbIOError() throws {
        let row = try #require(ResultText.parseBatch(try Fixture.text("mariadb-slave-status-io-error.batch.txt")).first)
        let s = try #require(ReplicaStatus(row: row))
        #expect(s.ioRunning == "Connecting")
        #expect(!s.ioYes)
        #expect(s.sqlRunning)
        #expect(s.sourcePort == 3401)
        #expect(s.secondsBehind == nil)
        #expect(s.lastIOError == "error connecting to master 'repl@127.0.0.31:3401' - retry-time: 1  maximum-retries: "
            + "100000  message: Can't connect to server on '127.0.0.31' (111 \"Connection refused\")")
    }

    @Test("MariaDB GTID replica: Using_Gtid and Gtid_IO_Pos")
    func mariadbGtid() throws {
        let row = try #require(ResultText.parseVertical(try Fixture.text("mariadb-slave-status-gtid.vertical.txt")).first)
        let s = try #require(ReplicaStatus(row: row))
        #expect(s.usingGtid == "Slave_Pos")
        #expect(s.gtidIOPos == "0-1-11")
        #expect(s.readSourceLogPos == 2409)
        #expect(s.execSourceLogPos == 2409)
    }

    @Test("MySQL 8.0 manual: Source_* and Replica_* names")
    func mysql80() throws {
        let row = try #require(ResultText.parseVertical(try Fixture.text("mysql80-show-replica-status.vertical.txt")).first)
        let s = try #require(ReplicaStatus(row: row))
        #expect(s == ReplicaStatus(row: [
            "Source_Host": "127.0.0.1", "Source_Port": "13000", "Replica_IO_Running": "Yes",
            "Replica_SQL_Running": "Yes", "Source_Log_File": "master-bin.000001", "Read_Source_Log_Pos": "927",
            "Relay_Source_Log_File": "master-bin.000001", "Exec_Source_Log_Pos": "927",
            "Seconds_Behind_Source": "0", "Last_IO_Error": "", "Last_SQL_Error": "",
            "Retrieved_Gtid_Set": "73f86016-978b-11ee-ade5-8d2a2a562feb:1-3",
            "Executed_Gtid_Set": "73f86016-978b-11ee-ade5-8d2a2a562feb:1-3", "Auto_Position": "1",
        ]))
        #expect(s.sourceHost == "127.0.0.1")
        #expect(s.sourcePort == 13000)
        #expect(s.ioYes && s.sqlRunning)
        #expect(s.readSourceLogPos == 927)
        #expect(s.execSourceLogPos == 927)
        #expect(s.secondsBehind == 0)
        #expect(s.gtidIOPos == "73f86016-978b-11ee-ade5-8d2a2a562feb:1-3")
        #expect(s.executedGtidSet == "73f86016-978b-11ee-ade5-8d2a2a562feb:1-3")
        #expect(s.usingGtid == "1")
    }

    @Test("MySQL 8.0 replica with IO thread No and error 13114")
    func mysql80IOError() throws {
        let row = try #require(ResultText.parseVertical(
            try Fixture.text("mysql80-show-replica-status-io-error.vertical.txt")).first)
        #expect(row.count == 60)
        let s = try #require(ReplicaStatus(row: row))
        #expect(s.ioRunning == "No")
        #expect(s.sqlRunning)
        #expect(s.sourcePort == 3306)
        #expect(s.sourceLogFile == "")
        #expect(s.readSourceLogPos == 4)
        #expect(s.lastIOError == "Got fatal error 1236 from source when reading data from binary log: 'Binary log is not open'")
        #expect(s.gtidIOPos == "")
        #expect(s.executedGtidSet == "1b31a695-a3f4-11f0-a8a0-42010a246409:1-45")
        #expect(s.usingGtid == "1")
    }

    @Test("multi-line Executed_Gtid_Set becomes one comma-separated set")
    func multiLineSet() throws {
        let row = try #require(ResultText.parseVertical(
            try Fixture.text("mysql56-show-slave-status-multiline-gtid.vertical.txt")).first)
        let s = try #require(ReplicaStatus(row: row))
        #expect(s.executedGtidSet == "2f95ae0b-8816-11e4-bf96-c81f66be0cd9:1-950522:950524-1069874:1069876-7871283,"
            + "48cb97b2-a1c7-11e7-b71e-0050563a5be6:1-6,f9614796-8822-11e4-bfea-c81f66bdf749:1-13")
        #expect(s.ioRunning == "No")
        #expect(s.sourceHost == "a2.b2.com")
        #expect(s.secondsBehind == nil)
        #expect(s.usingGtid == "1")
        // The same set in --batch form arrives as one value with an escaped newline (mysql-server's
        // Gtid_set default format puts ",\n" between UUIDs): same result.
        let batch = "Master_Host\tExecuted_Gtid_Set\na2.b2.com\t"
            + "2f95ae0b-8816-11e4-bf96-c81f66be0cd9:1-950522:950524-1069874:1069876-7871283,\\n"
            + "48cb97b2-a1c7-11e7-b71e-0050563a5be6:1-6,\\nf9614796-8822-11e4-bfea-c81f66bdf749:1-13\n"
        let b = try #require(ResultText.parseBatch(batch).first.flatMap(ReplicaStatus.init(row:)))
        #expect(b.executedGtidSet == s.executedGtidSet)
    }

    @Test("a row without a source host is not a replica status")
    func notAReplica() {
        #expect(ReplicaStatus(row: [:]) == nil)
        #expect(ReplicaStatus(row: ["File": "mysql-bin.000001", "Position": "2200"]) == nil)
        #expect(ReplicaStatus(row: ["Master_Host": nil]) == nil)
    }
}

@Suite("BinlogStatus(row:)")
struct BinlogStatusTests {
    @Test("MariaDB SHOW MASTER STATUS --batch")
    func mariadb() throws {
        let row = try #require(ResultText.parseBatch(try Fixture.text("mariadb-master-status.batch.txt")).first)
        #expect(BinlogStatus(row: row) == BinlogStatus(file: "mysql-bin.000001", position: 2200, executedGtidSet: ""))
    }

    @Test("MySQL 8.0 SHOW MASTER STATUS\\G and 8.4 SHOW BINARY LOG STATUS\\G")
    func mysql() throws {
        for name in ["mysql80-show-master-status.vertical.txt", "mysql84-show-binary-log-status.vertical.txt"] {
            let row = try #require(ResultText.parseVertical(try Fixture.text(name)).first, "\(name)")
            #expect(BinlogStatus(row: row) == BinlogStatus(
                file: "source-bin.000002", position: 1307,
                executedGtidSet: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"), "\(name)")
        }
    }

    @Test("no File or a non-numeric Position is not a binlog status")
    func invalid() {
        #expect(BinlogStatus(row: [:]) == nil)
        #expect(BinlogStatus(row: ["File": "mysql-bin.000001", "Position": "x"]) == nil)
        #expect(BinlogStatus(row: ["File": "mysql-bin.000001", "Position": nil]) == nil)
        #expect(BinlogStatus(row: ["Position": "4"]) == nil)
    }
}

@Suite("ServerVersion")
struct ServerVersionTests {
    @Test("MariaDB 10.11.19 (Debian's full version string)")
    func mariadb() throws {
        let raw = try Fixture.text("mariadb-version.batch.txt")
        let s = try #require(ResultText.parseBatch(raw).first?.first("@@version"))
        let v = try #require(ServerVersion(s))
        #expect(s == "10.11.19-MariaDB-0+deb12u1-log")
        #expect((v.major, v.minor, v.patch) == (10, 11, 19))
        #expect(v.flavor == .mariadb)
        #expect(v.description == "10.11.19-mariadb")
        #expect(v.replicaStatusSQL == "SHOW SLAVE STATUS")
        #expect(v.binlogStatusSQL == "SHOW MASTER STATUS")
        #expect(v.dumpCoordinatesOption == "--master-data=2")
    }

    @Test("MySQL 8.0.21: before the REPLICA keyword and --source-data")
    func mysql8021() throws {
        let v = try #require(ServerVersion("8.0.21"))
        #expect(v.flavor == .mysql)
        #expect(v.replicaStatusSQL == "SHOW SLAVE STATUS")
        #expect(v.binlogStatusSQL == "SHOW MASTER STATUS")
        #expect(v.dumpCoordinatesOption == "--master-data=2")
    }

    @Test("MySQL 8.0.36: REPLICA and --source-data, still SHOW MASTER STATUS")
    func mysql8036() throws {
        let v = try #require(ServerVersion("8.0.36"))
        #expect(v.replicaStatusSQL == "SHOW REPLICA STATUS")
        #expect(v.binlogStatusSQL == "SHOW MASTER STATUS")
        #expect(v.dumpCoordinatesOption == "--source-data=2")
    }

    @Test("MySQL 8.4.0: SHOW BINARY LOG STATUS")
    func mysql840() throws {
        let v = try #require(ServerVersion("8.4.0"))
        #expect(v.replicaStatusSQL == "SHOW REPLICA STATUS")
        #expect(v.binlogStatusSQL == "SHOW BINARY LOG STATUS")
        #expect(v.dumpCoordinatesOption == "--source-data=2")
    }

    @Test("boundaries 8.0.22 / 8.0.26 / 8.2.0, ordering, and garbage")
    func boundaries() throws {
        #expect(try #require(ServerVersion("8.0.22")).replicaStatusSQL == "SHOW REPLICA STATUS")
        #expect(try #require(ServerVersion("8.0.25")).dumpCoordinatesOption == "--master-data=2")
        #expect(try #require(ServerVersion("8.0.26")).dumpCoordinatesOption == "--source-data=2")
        #expect(try #require(ServerVersion("8.1.0")).binlogStatusSQL == "SHOW MASTER STATUS")
        #expect(try #require(ServerVersion("8.2.0")).binlogStatusSQL == "SHOW BINARY LOG STATUS")
        #expect(try #require(ServerVersion("8.0.36-0ubuntu0.22.04.1")).patch == 36)
        #expect(try #require(ServerVersion("8.0.9")) < #require(ServerVersion("8.0.10")))
        #expect(try #require(ServerVersion("10.6")).patch == 0)
        #expect(ServerVersion("") == nil)
        #expect(ServerVersion("MariaDB") == nil)
        #expect(ServerVersion("8") == nil)
    }
}

// MARK: - backup tool outputs

@Suite("ToolOutput on real mariabackup / mariadb-dump / xtrabackup outputs")
struct ToolOutputTests {
    @Test("keyValues: xtrabackup_checkpoints, full and incremental")
    func checkpoints() throws {
        #expect(ToolOutput.keyValues(try Fixture.text("mariabackup-full-xtrabackup_checkpoints.txt")) == [
            "backup_type": "full-backuped", "from_lsn": "0", "to_lsn": "44420", "last_lsn": "54786",
            "recover_binlog_info": "0",
        ])
        #expect(ToolOutput.keyValues(try Fixture.text("mariabackup-inc1-xtrabackup_checkpoints.txt")) == [
            "backup_type": "incremental", "from_lsn": "44420", "to_lsn": "44420", "last_lsn": "56354",
            "recover_binlog_info": "0",
        ])
    }

    @Test("keyValues + binlogPosFromInfo: xtrabackup_info, full and incremental")
    func xtrabackupInfo() throws {
        let full = ToolOutput.keyValues(try Fixture.text("mariabackup-full-xtrabackup_info.txt"))
        #expect(full.count == 17)
        #expect(full["name"] == "")
        #expect(full["tool_command"] == "--backup --target-dir=bk/full --socket=/var/lib/mha-lab/h3/mysqld.sock --user=root --slave-info")
        #expect(full["server_version"] == "10.11.19-MariaDB-0+deb12u1-log")
        #expect(full["incremental"] == "N")
        #expect(full["binlog_pos"] == "filename 'mysql-bin.000001', position '1823', GTID of the last change '0-1-3'")
        #expect(ToolOutput.binlogPosFromInfo(full["binlog_pos"] ?? "") ==
                Coordinates(file: "mysql-bin.000001", position: 1823, gtid: "0-1-3"))
        let inc = ToolOutput.keyValues(try Fixture.text("mariabackup-inc1-xtrabackup_info.txt"))
        #expect(inc["incremental"] == "Y")
        #expect(inc["innodb_from_lsn"] == "44420")
        #expect(ToolOutput.binlogPosFromInfo(inc["binlog_pos"] ?? "") ==
                Coordinates(file: "mysql-bin.000001", position: 2110, gtid: "0-3-6"))
    }

    @Test("binlogPosFromInfo: without GTID, and with a MySQL set that spans lines in xtrabackup_info")
    func binlogPosForms() {
        // xtrabackup's own format strings: "filename '%s', position '%s'" and
        // "filename '%s', position '%s', GTID of the last change '%s'".
        #expect(ToolOutput.binlogPosFromInfo("filename 'binlog.000007', position '157'") ==
                Coordinates(file: "binlog.000007", position: 157, gtid: nil))
        #expect(ToolOutput.binlogPosFromInfo("filename 'binlog.000007', position '157', GTID of the last change ''") ==
                Coordinates(file: "binlog.000007", position: 157, gtid: nil))
        let info = """
            tool_name = xtrabackup
            binlog_pos = filename 'binlog.000003', position '1107', GTID of the last change '4dc3b484-3e7c-11f1-9928-2e012d3a0a28:1-65,
            62a26922-43f8-11f1-846c-72aa4ab57bb5:1-36'
            innodb_from_lsn = 0
            """
        let kv = ToolOutput.keyValues(info)
        #expect(kv["innodb_from_lsn"] == "0")
        #expect(ToolOutput.binlogPosFromInfo(kv["binlog_pos"] ?? "") == Coordinates(
            file: "binlog.000003", position: 1107,
            gtid: "4dc3b484-3e7c-11f1-9928-2e012d3a0a28:1-65,62a26922-43f8-11f1-846c-72aa4ab57bb5:1-36"))
        #expect(ToolOutput.binlogPosFromInfo("garbage") == nil)
        #expect(ToolOutput.binlogPosFromInfo("filename 'x', position 'y'") == nil)
    }

    @Test("binlogInfo: mariabackup (MariaDB GTID) and xtrabackup 8.0 (MySQL GTID set)")
    func binlogInfo() throws {
        #expect(ToolOutput.binlogInfo(try Fixture.text("mariabackup-full-xtrabackup_binlog_info.txt")) ==
                Coordinates(file: "mysql-bin.000001", position: 1823, gtid: "0-1-3"))
        #expect(ToolOutput.binlogInfo(try Fixture.text("mariabackup-slave-xtrabackup_binlog_info.txt")) ==
                Coordinates(file: "mysql-bin.000001", position: 1977, gtid: "0-3-6"))
        #expect(ToolOutput.binlogInfo(try Fixture.text("xtrabackup80-xtrabackup_binlog_info.txt")) ==
                Coordinates(file: "mysql-bin.000002", position: 1232, gtid: "c777888a-b6df-11e2-a604-080027635ef5:1-4"))
    }

    @Test("binlogInfo: no GTID column, an empty one, a multi-line set, and garbage")
    func binlogInfoForms() {
        // xtrabackup writes "%s\t%s\n" without GTID and "%s\t%s\t%s\n" with it.
        #expect(ToolOutput.binlogInfo("mysql-bin.000209\t713297953\n") ==
                Coordinates(file: "mysql-bin.000209", position: 713_297_953, gtid: nil))
        #expect(ToolOutput.binlogInfo("mysql-bin.000001\t1823\t\n") ==
                Coordinates(file: "mysql-bin.000001", position: 1823, gtid: nil))
        #expect(ToolOutput.binlogInfo("binlog.000003\t1107\t4dc3b484-3e7c-11f1-9928-2e012d3a0a28:1-65,\n62a26922-43f8-11f1-846c-72aa4ab57bb5:1-36\n") ==
                Coordinates(file: "binlog.000003", position: 1107,
                            gtid: "4dc3b484-3e7c-11f1-9928-2e012d3a0a28:1-65,62a26922-43f8-11f1-846c-72aa4ab57bb5:1-36"))
        #expect(ToolOutput.binlogInfo("") == nil)
        #expect(ToolOutput.binlogInfo("mysql-bin.000001\tabc\n") == nil)
        #expect(ToolOutput.binlogInfo("mysql-bin.000001\n") == nil)
    }

    @Test("slaveInfo: mariabackup --slave-info on a file/position replica")
    func slaveInfo() throws {
        #expect(ToolOutput.slaveInfo(try Fixture.text("mariabackup-slave-xtrabackup_slave_info.txt")) ==
                Coordinates(file: "mysql-bin.000001", position: 2110, gtid: nil))
    }

    @Test("slaveInfo: the GTID forms xtrabackup/mariabackup write (backup_mysql.cc write_slave_info)")
    func slaveInfoGtid() {
        // MariaDB, Using_Gtid=Slave_Pos: "SET GLOBAL gtid_slave_pos = '%s';\nCHANGE MASTER TO master_use_gtid = slave_pos;\n"
        #expect(ToolOutput.slaveInfo("SET GLOBAL gtid_slave_pos = '0-1-11';\nCHANGE MASTER TO master_use_gtid = slave_pos;\n") ==
                Coordinates(file: "", position: 0, gtid: "0-1-11"))
        // MySQL, Auto_Position=1: newlines in the set become spaces,
        // "SET GLOBAL gtid_purged='%s';\nCHANGE MASTER TO MASTER_AUTO_POSITION=1;\n"
        #expect(ToolOutput.slaveInfo("SET GLOBAL gtid_purged='2f95ae0b-8816-11e4-bf96-c81f66be0cd9:1-13, 48cb97b2-a1c7-11e7-b71e-0050563a5be6:1-6';\nCHANGE MASTER TO MASTER_AUTO_POSITION=1;\n") ==
                Coordinates(file: "", position: 0,
                            gtid: "2f95ae0b-8816-11e4-bf96-c81f66be0cd9:1-13,48cb97b2-a1c7-11e7-b71e-0050563a5be6:1-6"))
        // xtrabackup 8.0 on a MySQL 8.0.23+ replica.
        #expect(ToolOutput.slaveInfo("CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=1610;\n") ==
                Coordinates(file: "binlog.000002", position: 1610, gtid: nil))
        #expect(ToolOutput.slaveInfo("") == nil)
    }

    @Test("dumpCoordinates: mariadb-dump --master-data=2, head alone and head + tail (GTID)")
    func mariadbDump() throws {
        let head = try Fixture.text("mariadb-dump-master-head.txt")
        let tail = try Fixture.text("mariadb-dump-master-tail.txt")
        #expect(head.hasPrefix("/*M!999999\\- enable the sandbox mode */ \n"))
        #expect(ToolOutput.dumpCoordinates(head) == Coordinates(file: "mysql-bin.000001", position: 2200, gtid: nil))
        #expect(ToolOutput.dumpCoordinates(head + tail) ==
                Coordinates(file: "mysql-bin.000001", position: 2200, gtid: "0-1-10"))
        #expect(ToolOutput.dumpCoordinates(tail) == nil)
    }

    @Test("dumpCoordinates: mariadb-dump --dump-slave=2 (CHANGE MASTER '' TO ...)")
    func mariadbDumpSlave() throws {
        let head = try Fixture.text("mariadb-dump-slave-head.txt")
        let tail = try Fixture.text("mariadb-dump-slave-tail.txt")
        #expect(ToolOutput.dumpCoordinates(head) == Coordinates(file: "mysql-bin.000001", position: 2200, gtid: nil))
        #expect(ToolOutput.dumpCoordinates(head + tail) ==
                Coordinates(file: "mysql-bin.000001", position: 2200, gtid: "0-1-10"))
    }

    @Test("dumpCoordinates: the lab's --gtid variant prints MASTER_USE_GTID first")
    func mariadbDumpGtidVariant() throws {
        let summary = """
            -- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;
            -- A corresponding to the above master-data CHANGE-MASTER settings to the slave gtid state is printed later in the file.
            -- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=667;
            -- The deferred gtid setting for slave corresponding to the master-data CHANGE-MASTER follows
            -- Preferably use GTID to start replication from GTID position:
            -- SET GLOBAL gtid_slave_pos='0-3-8';
            """
        #expect(ToolOutput.dumpCoordinates(summary) == Coordinates(file: "mysql-bin.000002", position: 667, gtid: "0-3-8"))
    }

    @Test("dumpCoordinates: MySQL 8.4 --source-data=2 line (no space after the comma)")
    func mysqlSourceData() throws {
        #expect(ToolOutput.dumpCoordinates(try Fixture.text("mysql84-mysqldump-source-data-2-lines.txt")) ==
                Coordinates(file: "gbichot2-bin.000007", position: 4, gtid: nil))
        #expect(ToolOutput.dumpCoordinates("-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=1610;\n") ==
                Coordinates(file: "binlog.000002", position: 1610, gtid: nil))
    }

    @Test("dumpCoordinates: MySQL 5.7 --master-data=2 with a two-line GTID_PURGED")
    func mysql57Dump() throws {
        #expect(ToolOutput.dumpCoordinates(try Fixture.text("mysql57-mysqldump-master-data-2-head.txt")) == Coordinates(
            file: "mysql-bin.000233", position: 314_582_450,
            gtid: "7664fad8-49fd-11e8-a546-4201c0a8010a:1-766741,90e79fc1-49fd-11e8-a6dd-4201c0a8010b:1-20227"))
    }

    @Test("dumpCoordinates: MySQL 8 GTID_PURGED spellings (/*!80000 '+'*/, COMMENTED '+...')")
    func mysql8GtidPurged() {
        let file = "-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='binlog.000002', SOURCE_LOG_POS=1610;\n"
        #expect(ToolOutput.dumpCoordinates(
            "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'e7e77cbc-16f8-11ed-a055-c4bde5be8098:1-390';\n" + file) ==
            Coordinates(file: "binlog.000002", position: 1610, gtid: "e7e77cbc-16f8-11ed-a055-c4bde5be8098:1-390"))
        #expect(ToolOutput.dumpCoordinates(
            "/* SET @@GLOBAL.GTID_PURGED='+9113f6b1-0751-11eb-9e7d-0242dc638c6c:1-385';*/\n" + file) ==
            Coordinates(file: "binlog.000002", position: 1610, gtid: "9113f6b1-0751-11eb-9e7d-0242dc638c6c:1-385"))
    }
}
