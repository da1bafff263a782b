import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// The replication statements sent to a source after an aborted backup, per server, and the
/// decision to restart its SQL thread, against the captured and documented outputs in Fixtures/.
@Suite("replica SQL after an aborted backup: the server's own spelling")
struct ReplicaSQLTests {
    static func vertical(_ name: String, _ edit: (String) -> String = { $0 }) throws -> ReplicaStatus {
        let row = try #require(ResultText.parseVertical(edit(try Fixture.text(name))).first)
        return try #require(ReplicaStatus(row: row))
    }

    @Test("START SLAVE for MariaDB and MySQL before 8.0.22, START REPLICA from 8.0.22 (START SLAVE is gone in 8.4)")
    func startSQLThread() throws {
        let raw = try #require(ResultText.parseBatch(try Fixture.text("mariadb-version.batch.txt")).first?.first("@@version"))
        let cases: [(String, String, String)] = [
            (raw, "SHOW SLAVE STATUS", "START SLAVE SQL_THREAD"),
            ("8.0.21", "SHOW SLAVE STATUS", "START SLAVE SQL_THREAD"),
            ("8.0.22", "SHOW REPLICA STATUS", "START REPLICA SQL_THREAD"),
            ("8.0.36-0ubuntu0.22.04.1", "SHOW REPLICA STATUS", "START REPLICA SQL_THREAD"),
            ("8.4.0", "SHOW REPLICA STATUS", "START REPLICA SQL_THREAD"),
            ("9.1.0", "SHOW REPLICA STATUS", "START REPLICA SQL_THREAD"),
            // MariaDB 11 is not MySQL 8.4: it keeps SLAVE.
            ("11.4.2-MariaDB", "SHOW SLAVE STATUS", "START SLAVE SQL_THREAD"),
        ]
        for (version, show, start) in cases {
            let v = try #require(ServerVersion(version))
            #expect(v.replicaStatusSQL == show, "\(version)")
            #expect(v.startReplicaSQLThreadSQL == start, "\(version)")
        }
    }

    @Test("MariaDB 10.11 after STOP SLAVE (captured): the SQL thread is restarted with START SLAVE")
    func mariadbStopped() throws {
        let st = try Self.vertical("mariadb-slave-status-stopped.vertical.txt")
        #expect(!st.sqlRunning && st.lastSQLError.isEmpty)
        #expect(st.sqlThreadRestart(version: ServerVersion("10.11.19-MariaDB-0+deb12u1-log")) == "START SLAVE SQL_THREAD")
        // The version could not be read: the spelling every MariaDB takes.
        #expect(st.sqlThreadRestart(version: nil) == "START SLAVE SQL_THREAD")
        #expect(try Self.vertical("mariadb-slave-status-running.vertical.txt").sqlThreadRestart(version: nil) == nil)
    }

    @Test("MySQL 8.0 SHOW REPLICA STATUS (the manual's example): running, nothing to do; stopped, START REPLICA")
    func mysqlReplicaStatus() throws {
        let v = try #require(ServerVersion("8.4.0"))
        let running = try Self.vertical("mysql80-show-replica-status.vertical.txt")
        #expect(running.sqlRunning && running.sourceHost == "127.0.0.1")
        #expect(running.sqlThreadRestart(version: v) == nil)
        // An IO error alone leaves the SQL thread running: nothing to restart.
        #expect(try Self.vertical("mysql80-show-replica-status-io-error.vertical.txt").sqlThreadRestart(version: v) == nil)
        // The same output with the SQL thread stopped (as --safe-slave-backup leaves it).
        let stopped = try Self.vertical("mysql80-show-replica-status.vertical.txt") {
            $0.replacingOccurrences(of: "Replica_SQL_Running: Yes", with: "Replica_SQL_Running: No")
        }
        #expect(stopped.sqlThreadRestart(version: v) == "START REPLICA SQL_THREAD")
        #expect(stopped.sqlThreadRestart(version: ServerVersion("8.0.21")) == "START SLAVE SQL_THREAD")
    }

    @Test("a SQL thread stopped on its own error is left for a DBA")
    func stoppedOnError() throws {
        let st = try Self.vertical("mariadb-slave-status-stopped.vertical.txt") {
            $0.replacingOccurrences(of: "Last_SQL_Error: \n", with: "Last_SQL_Error: Duplicate entry '1' for key 'PRIMARY'\n")
        }
        #expect(st.lastSQLError.hasPrefix("Duplicate entry"))
        #expect(st.sqlThreadRestart(version: nil) == nil)
    }
}
