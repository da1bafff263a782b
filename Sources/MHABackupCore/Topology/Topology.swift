import Foundation
import MHABackupBase
import MHABackupFailover

/// What one server said when asked.
public struct ServerState: Sendable, Codable {
    public var server: MHAServer
    public var reachable: Bool
    public var error: String?
    public var version: String?
    public var flavor: ServerFlavor?
    public var serverId: Int?
    public var readOnly: Bool?
    public var logBin: Bool?
    public var binlog: BinlogStatus?
    /// MariaDB @@gtid_binlog_pos / @@gtid_current_pos, or MySQL @@gtid_executed.
    public var gtidBinlogPos: String?
    public var gtidCurrentPos: String?
    public var replica: ReplicaStatus?
    public var datadir: String?
    public var binlogFormat: String?
    public var role: Role = .unknown

    public enum Role: String, Sendable, Codable { case master, replica, unknown, down }

    public var parsedVersion: ServerVersion? { version.flatMap(ServerVersion.init) }
}

/// Live topology: who is master now, replicas and their sources, read_only, binlog and GTID positions.
public struct Topology: Sendable, Codable {
    public var servers: [ServerState]

    public var master: ServerState? { servers.first { $0.role == .master } }
    public var replicas: [ServerState] { servers.filter { $0.role == .replica } }

    /// Healthy replicas of the master: IO and SQL running, reasonable lag, preferring no_master ones
    /// (they will not be promoted, so a backup there never sits in a failover's path).
    public var healthyReplicas: [ServerState] {
        replicas.filter { s in
            guard let r = s.replica else { return false }
            return r.ioYes && r.sqlRunning && (r.secondsBehind ?? 0) < 300
        }.sorted { a, b in
            if a.server.noMaster != b.server.noMaster { return a.server.noMaster }
            if a.server.candidateMaster != b.server.candidateMaster { return !a.server.candidateMaster }
            return false
        }
    }

    public func state(of name: String) -> ServerState? {
        servers.first { $0.server.hostname == name || $0.server.ip == name || $0.server.key == name || $0.server.block == name }
    }

    /// Asks every server in parallel; each call is bounded by the client's timeouts.
    public static func discover(_ mha: MHAAppConfig, config: BackupConfig) -> Topology {
        let results = LockedArray<ServerState?>(count: mha.servers.count)
        DispatchQueue.concurrentPerform(iterations: mha.servers.count) { i in
            let s = mha.servers[i]
            results.set(i, probe(s, client: MySQLClient(server: s, config: config)))
        }
        var states = results.values.compactMap { $0 }
        classify(&states)
        return Topology(servers: states)
    }

    public static func probe(_ s: MHAServer, client: MySQLClient) -> ServerState {
        var st = ServerState(server: s, reachable: false)
        do {
            // Four short client calls (variables, GTID, binlog status, replica status); each is bounded.
            let rows = try client.query("SELECT @@version AS version, @@server_id AS server_id, @@read_only AS read_only, @@log_bin AS log_bin, @@datadir AS datadir, @@binlog_format AS binlog_format")
            guard let r = rows.first else { throw MBError.failed("no answer") }
            st.reachable = true
            st.version = r.first("version")
            let v = st.version.flatMap(ServerVersion.init)
            st.flavor = v?.flavor
            st.serverId = r.first("server_id").flatMap { Int($0) }
            st.readOnly = r.first("read_only").map { $0 == "1" || $0.uppercased() == "ON" }
            st.logBin = r.first("log_bin").map { $0 == "1" || $0.uppercased() == "ON" }
            st.datadir = r.first("datadir")
            st.binlogFormat = r.first("binlog_format")
            if st.flavor == .mariadb {
                let g = try client.query("SELECT @@gtid_binlog_pos AS b, @@gtid_current_pos AS c")
                st.gtidBinlogPos = g.first?.first("b")
                st.gtidCurrentPos = g.first?.first("c")
            } else {
                st.gtidBinlogPos = try client.query("SELECT @@global.gtid_executed AS g").first?.first("g")
            }
            if st.logBin == true {
                st.binlog = try client.query(v?.binlogStatusSQL ?? "SHOW MASTER STATUS").first.flatMap(BinlogStatus.init(row:))
            }
            st.replica = try client.query(v?.replicaStatusSQL ?? "SHOW SLAVE STATUS").first.flatMap(ReplicaStatus.init(row:))
        } catch let e as MBError {
            st.error = e.message
        } catch {
            st.error = "\(error)"
        }
        if !st.reachable { st.role = .down }
        return st
    }

    /// Master: reachable, no replication configured (or stopped with no source), read_only off.
    /// Replica: has a source. Servers whose source is another replica still count as replicas.
    public static func classify(_ states: inout [ServerState]) {
        for i in states.indices where states[i].reachable {
            if let r = states[i].replica, !r.sourceHost.isEmpty,
               r.ioRunning != "No" || r.sqlRunning || r.readSourceLogPos > 0 {
                states[i].role = .replica
            } else if states[i].readOnly == false {
                states[i].role = .master
            } else {
                states[i].role = .unknown
            }
        }
        // Two writable servers without sources: prefer the one the replicas point at.
        let masters = states.indices.filter { states[$0].role == .master }
        if masters.count > 1 {
            let pointed = Set(states.compactMap { $0.replica?.sourceHost })
            for i in masters where !pointed.contains(states[i].server.hostname) && !pointed.contains(states[i].server.ip) {
                states[i].role = .unknown
            }
        }
    }
}

/// A fixed-size array filled from concurrent work.
package final class LockedArray<T>: @unchecked Sendable {
    private var storage: [T]
    private let lock = NSLock()
    package init(count: Int) where T: ExpressibleByNilLiteral { storage = Array(repeating: nil, count: count) }
    package func set(_ i: Int, _ v: T) { lock.lock(); storage[i] = v; lock.unlock() }
    package var values: [T] { lock.lock(); defer { lock.unlock() }; return storage }
}
