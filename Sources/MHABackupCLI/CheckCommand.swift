import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

/// `mha-backup check`: the config loads, every server answers through the client and through ssh
/// (each bounded by the connect timeout), the tools exist on each host, and the live topology.
public struct CheckReport: Codable, Sendable {
    public struct HostCheck: Codable, Sendable {
        public var host: String
        public var port: Int
        public var role: String
        public var mysql: String
        public var ssh: String
        public var sshSeconds: Double?
        public var missingTools: [String]
        public var version: String?
        public var serverId: Int?
        public var readOnly: Bool?
        public var binlog: String?
        public var gtid: String?
        public var source: String?
        public var replication: String?
    }

    public var config: String
    public var mhaConf: String
    public var master: String?
    public var hosts: [HostCheck]
    public var localMissingTools: [String]
    public var fence: String?
    public var timelineMaster: String?
    public var activeJobs: Int
    public var problems: [String]
}

public enum Checker {
    public static func run(_ ctx: Context) -> CheckReport {
        let c = ctx.config
        let topo = Topology.discover(ctx.mha, config: c)
        var problems: [String] = []
        var local: [String] = []
        let compressor = c.compression.compressArgv(level: nil)?.first
        for tool in ["ssh", MySQLClient.clientProgram, "mariadb-binlog"] + (compressor.map { [$0] } ?? []) where ProcessRunner.which(tool) == nil {
            local.append(tool)
            problems.append("local tool \(q(tool)) is missing (\(ToolPackages.hint(for: tool) ?? "install it"))")
        }
        // The encryption keys are read as a backup would read them (mode, owner, length).
        do { _ = try c.encryption.keyRing() } catch { problems.append((error as? MBError)?.message ?? "\(error)") }
        let remoteTools = [c.method == .xtrabackup ? "xtrabackup" : "mariabackup", "nice", "ionice", "mkdir", "cat"]
            + (compressor.map { [$0] } ?? [])
        let results = LockedArray<CheckReport.HostCheck?>(count: topo.servers.count)
        DispatchQueue.concurrentPerform(iterations: topo.servers.count) { i in
            let st = topo.servers[i]
            var h = CheckReport.HostCheck(host: st.server.hostname, port: st.server.port, role: st.role.rawValue,
                                          mysql: st.reachable ? "ok" : "error: \(st.error ?? "no answer")",
                                          ssh: "not checked", sshSeconds: nil, missingTools: [],
                                          version: st.version, serverId: st.serverId, readOnly: st.readOnly,
                                          binlog: st.binlog.map { "\($0.file):\($0.position)" }, gtid: st.gtidBinlogPos,
                                          source: st.replica.map { "\($0.sourceHost):\($0.sourcePort)" },
                                          replication: st.replica.map { "IO=\($0.ioRunning) SQL=\($0.sqlRunning ? "Yes" : "No") lag=\($0.secondsBehind.map(String.init) ?? "NULL")\($0.lastIOError.isEmpty ? "" : " io_error=\($0.lastIOError)")\($0.lastSQLError.isEmpty ? "" : " sql_error=\($0.lastSQLError)")" })
            do {
                let ssh = try SSHTarget(server: st.server, config: c)
                // `command -v` prints the path of each tool it finds (and exits non-zero if one
                // is missing); the missing ones are the difference. ssh itself failing is 255.
                let start = Date()
                let r = try ProcessRunner().run(ssh.command(RemoteCommand(["command", "-v"] + remoteTools)),
                                                timeout: TimeInterval(c.sshConnectTimeout + 10))
                h.sshSeconds = Date().timeIntervalSince(start)
                if !r.timedOut, let rc = r.stages.first?.exitCode, rc != 255 {
                    h.ssh = "ok"
                    let found = Set(r.stdoutString.split(separator: "\n").map { String($0.split(separator: "/").last ?? $0) })
                    h.missingTools = remoteTools.filter { !found.contains($0) }
                } else {
                    h.ssh = "error: \(r.failureSummary)"
                }
            } catch let e as MBError {
                h.ssh = "error: \(e.message)"
            } catch {
                h.ssh = "error: \(error)"
            }
            results.set(i, h)
        }
        let hosts = results.values.compactMap { $0 }
        for h in hosts {
            if h.mysql != "ok" { problems.append("\(h.host):\(h.port): mysql \(h.mysql)") }
            if h.ssh != "ok" { problems.append("\(h.host): ssh \(h.ssh)") }
            if !h.missingTools.isEmpty {
                problems.append("\(h.host): missing tools \(h.missingTools.joined(separator: ", ")) (\(h.missingTools.compactMap { ToolPackages.map[$0] }.joined(separator: ", ")))")
            }
        }
        if topo.master == nil { problems.append("no master found (no reachable writable server without a source)") }
        problems += FailoverHealth.problems(ctx, topology: topo)
        let now = ctx.clock.now()
        let fence = Fence.load(c.fencePath).map { $0.describe(path: c.fencePath, now: now) }
        if let f = Fence.load(c.fencePath), f.isStale(now: now) { problems.append(f.describe(path: c.fencePath, now: now)) }
        let tl = (try? Timeline.load(c.timelinePath))?.current
        if let tl, let m = topo.master, tl.masterHost != m.server.hostname {
            problems.append("the catalog follows master \(q(tl.masterHost)) but the live master is \(q(m.server.hostname))")
        }
        return CheckReport(config: c.path, mhaConf: ctx.mha.path, master: topo.master?.server.key, hosts: hosts,
                           localMissingTools: local, fence: fence, timelineMaster: tl.map { "\($0.masterHost):\($0.masterPort) (timeline \($0.id))" },
                           activeJobs: JobRegistry(dir: c.jobsDir).active().count, problems: problems)
    }
}

enum CheckCommand {
    static func run(_ ctx: Context, json: Bool) throws {
        let r = Checker.run(ctx)
        if json {
            print(JSON.string(r))
        } else {
            print("config \(r.config)\nmha    \(r.mhaConf)\nmaster \(r.master ?? "NONE")")
            if let t = r.timelineMaster { print("catalog follows \(t)") }
            for h in r.hosts {
                print("\(h.host):\(h.port)  \(h.role)  mysql=\(h.mysql == "ok" ? "ok" : "ERROR")  ssh=\(h.ssh == "ok" ? "ok" : "ERROR")"
                      + (h.version.map { "  \($0)" } ?? "") + (h.serverId.map { "  server_id=\($0)" } ?? "")
                      + (h.readOnly.map { "  read_only=\($0 ? 1 : 0)" } ?? "")
                      + (h.binlog.map { "  binlog=\($0)" } ?? "") + (h.gtid.map { "  gtid=\($0)" } ?? "")
                      + (h.source.map { "  source=\($0)" } ?? "") + (h.replication.map { "  \($0)" } ?? ""))
            }
            print("fence: \(r.fence ?? "none");  active jobs: \(r.activeJobs)")
            if r.problems.isEmpty { print("OK") } else {
                print("\(r.problems.count) problem(s):")
                for p in r.problems { print("  - \(p)") }
            }
        }
        if !r.problems.isEmpty { throw CLI.CommandExit(code: ExitCode.checkProblems.rawValue) }
    }
}

/// What a failover that died half-way leaves: an open record with no report past its TTL, and a
/// half-promoted node (read_only=1, replication stopped).
public enum FailoverHealth {
    public static func problems(_ ctx: Context, topology topo: Topology) -> [String] {
        var out: [String] = []
        let now = ctx.clock.now()
        if let r = FailoverStore(stateDir: ctx.config.stateDir).open {
            let age = now.timeIntervalSince(r.openedAt)
            if age > ctx.config.hooks.failoverTTL {
                out.append("failover \(q(r.id)) of \(r.deadMaster.host) opened \(Int(age)) s ago has no report (past failover_ttl \(Int(ctx.config.hooks.failoverTTL)) s): the manager may have died mid-failover; steps seen: \(r.steps.keys.sorted().joined(separator: ", "))")
            }
        }
        // A salvage that did not finish: the dead master's last binlog may be missing from the archive.
        if let last = FailoverStore(stateDir: ctx.config.stateDir).all().last(where: { $0.kind == .failover }),
           let sv = last.salvage, sv.state != .done, !sv.isLive(now: now) {
            out.append("binlog salvage of failover \(q(last.id)) (\(last.deadMaster.host)) did not finish: \(sv.state == .running ? "its worker died" : sv.message ?? "failed") — run 'mha-backup salvage --failover \(last.id)' while ssh still reaches \(last.deadMaster.host)")
        }
        for s in topo.servers where s.reachable && s.role == .unknown && s.readOnly == true {
            let stopped = s.replica.map { !$0.ioYes && !$0.sqlRunning } ?? true
            if stopped {
                out.append("\(s.server.key) is half-promoted: read_only=1 and replication stopped\(s.replica.map { " (source \($0.sourceHost))" } ?? "") — re-run the failover (masterha_master_switch --master_state=dead) or finish it by hand")
            }
        }
        return out
    }
}
