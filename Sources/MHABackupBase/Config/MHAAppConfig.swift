import FoundationEssentials
import Glibc
import Dispatch

/// One `[serverN]` block of an MHA application config, after `[server default]` inheritance.
public struct MHAServer: Sendable, Codable, Equatable {
    public var block: String
    public var hostname: String
    public var ip: String
    public var port: Int
    public var sshUser: String
    public var sshHost: String
    public var sshPort: Int
    public var sshOptions: String?
    public var masterBinlogDir: [String]
    public var candidateMaster: Bool
    public var noMaster: Bool
    public var remoteWorkdir: String

    /// The address we connect to: ip when set, else hostname.
    public var address: String { ip.isEmpty ? hostname : ip }
    public var key: String { "\(hostname):\(port)" }
}

/// The parts of an MHA app.cnf that mha-backup reads. MHA stays the one source of truth for servers.
public struct MHAAppConfig: Sendable {
    public var path: String
    public var servers: [MHAServer]
    public var binlogServers: [MHAServer]
    public var managerWorkdir: String
    public var managerLog: String?
    public var defaults: [String: String]
    /// `[server default]` user (the MHA admin user); credentials themselves come from our own file.
    public var user: String?

    public static let knownKeys: Set<String> = [
        "hostname", "ip", "port", "ssh_host", "ssh_ip", "ssh_port", "ssh_connection_timeout", "ssh_options",
        "node_label", "candidate_master", "no_master", "ignore_fail", "skip_init_ssh_check", "skip_reset_slave",
        "user", "password", "repl_user", "repl_password", "disable_log_bin", "master_pid_file",
        "handle_raw_binlog", "ssh_user", "remote_workdir", "master_binlog_dir", "log_level", "manager_workdir",
        "manager_log", "check_repl_delay", "check_repl_filter", "latest_priority", "multi_tier_slave",
        "ping_interval", "ping_type", "secondary_check_script", "master_ip_failover_script",
        "master_ip_online_change_script", "shutdown_script", "report_script", "init_conf_load_script",
        "client_bindir", "client_libdir", "use_gtid_auto_pos",
    ]

    /// Config::Tiny keeps the rest of the line; MHA then strips one pair of surrounding quotes.
    package static func mhaValue(_ v: String) -> String {
        var s = v
        if s.hasSuffix("'") || s.hasSuffix("\"") {
            s.removeLast()
            if s.hasPrefix("'") || s.hasPrefix("\"") { s.removeFirst() }
        }
        return s
    }

    public static func load(_ path: String, warn: (String) -> Void = eprint) throws -> MHAAppConfig {
        let ini = try INIFile.load(path, inlineComments: false)
        return try parse(ini, warn: warn)
    }

    public static func parse(_ ini: INIFile, warn: (String) -> Void = { _ in }) throws -> MHAAppConfig {
        var def: [String: String] = [:]
        if let d = ini.section("server default") {
            for e in d.entries {
                if !knownKeys.contains(e.key) { warn("\(ini.path):\(e.line): unknown MHA key \(q(e.key)) (ignored)") }
                def[e.key] = mhaValue(e.value)
            }
        }
        var servers: [MHAServer] = []
        var binlogServers: [MHAServer] = []
        for s in ini.sections where s.name != "server default" {
            let isServer = s.name.hasPrefix("server") && s.name.count > 6
            let isBinlog = s.name.hasPrefix("binlog") && s.name.count > 6
            guard isServer || isBinlog else {
                throw MBError.config("\(ini.path):\(s.line): block \(q(s.name)) is invalid; MHA wants 'server default', 'serverN' or 'binlogN'")
            }
            var v = def
            for e in s.entries {
                if !knownKeys.contains(e.key) { warn("\(ini.path):\(e.line): unknown MHA key \(q(e.key)) (ignored)") }
                v[e.key] = mhaValue(e.value)
            }
            guard let hostname = v["hostname"], !hostname.isEmpty else {
                throw MBError.config("\(ini.path):\(s.line): [\(s.name)] has no 'hostname'")
            }
            func int(_ k: String, _ d: Int) throws -> Int {
                guard let raw = v[k], !raw.isEmpty else { return d }
                guard let n = Int(raw), n > 0, n < 65536 else {
                    let line = s.entry(k)?.line ?? ini.section("server default")?.entry(k)?.line ?? s.line
                    throw MBError.config("\(ini.path):\(line): \(q(k)) must be a port number, got \(q(raw))")
                }
                return n
            }
            func bool(_ k: String) -> Bool { (v[k].flatMap(Int.init) ?? 0) != 0 }
            let ip = v["ip"] ?? hostname
            let srv = MHAServer(
                block: s.name, hostname: hostname, ip: ip, port: try int("port", 3306),
                sshUser: v["ssh_user"] ?? "root", sshHost: v["ssh_host"] ?? hostname,
                // MHA reads ssh_options from the [serverN] block only (Config.pm), and drops quotes.
                sshPort: try int("ssh_port", 22),
                sshOptions: s.value("ssh_options").map { MHAAppConfig.mhaValue($0).filter { $0 != "'" && $0 != "\"" } },
                masterBinlogDir: (v["master_binlog_dir"] ?? "/var/lib/mysql,/var/log/mysql")
                    .replacing(" ", with: "").split(separator: ",").map(String.init),
                candidateMaster: bool("candidate_master"), noMaster: bool("no_master"),
                remoteWorkdir: v["remote_workdir"] ?? "/var/tmp")
            if isServer { servers.append(srv) } else { binlogServers.append(srv) }
        }
        // MHA orders servers by the number in the block name.
        func num(_ b: String) -> Int { Int(b.filter(\.isNumber)) ?? 0 }
        servers.sort { num($0.block) < num($1.block) }
        guard !servers.isEmpty else {
            throw MBError.config("\(ini.path): no [serverN] block")
        }
        return MHAAppConfig(path: ini.path, servers: servers, binlogServers: binlogServers,
                            managerWorkdir: def["manager_workdir"] ?? "/var/tmp",
                            managerLog: def["manager_log"], defaults: def, user: def["user"])
    }

    /// The server whose hostname or ip is `name`.
    public func server(named name: String) -> MHAServer? {
        servers.first { $0.hostname == name || $0.ip == name || $0.key == name || $0.block == name }
    }
}
