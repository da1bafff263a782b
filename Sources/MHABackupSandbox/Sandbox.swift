import Foundation
import MHABackupBase

/// A real 3-host MHA cluster on this machine: 127.0.0.11, .12, .13, each with its own mariadbd on
/// 3306 and its own sshd on 22, classic replication from .11, an MHA app.cnf wired to the
/// project's hooks, and a complete mha-backup.cnf. Everything lives under one root folder and
/// `down` stops only what `up` started (pids recorded in the root).
public struct Sandbox {
    public static let defaultRoot = "/var/lib/mha-backup-sandbox"
    public static let hostCount = 3
    public static let mhaPassword = "mha-sandbox-pw"
    public static let replPassword = "repl-sandbox-pw"
    public static let backupPassword = "backup-sandbox-pw"

    public var root: String
    /// The repository (for hooks/), when known.
    public var repo: String?
    /// The folder of the four hook entry points, instead of the repository's hooks/ (an installed
    /// package's: /usr/share/mha-backup/hooks).
    public var hooksDir: String?
    public var runner = ProcessRunner()
    public var log: (String) -> Void = { print($0) }

    /// Host N is 127.0.0.(base+N): base 10 gives .11-.13; another base runs a second sandbox beside it.
    public var base: Int

    public init(root: String = Sandbox.defaultRoot, repo: String? = nil, base: Int = 10) {
        self.root = root
        self.repo = repo
        self.base = base
    }

    public struct Host: Sendable {
        public var index: Int  // 1-based
        public var base: Int
        public var ip: String { "127.0.0.\(base + index)" }
        public var name: String { "h\(index)" }
        public var serverId: Int { base + index }
    }

    public var hosts: [Host] { (1...Self.hostCount).map { Host(index: $0, base: base) } }

    func dir(_ h: Host) -> String { "\(root)/\(h.name)" }
    func datadir(_ h: Host) -> String { "\(dir(h))/data" }
    func socket(_ h: Host) -> String { "\(dir(h))/mysqld.sock" }
    func mysqldPidFile(_ h: Host) -> String { "\(dir(h))/mysqld.pid" }
    func sshdPidFile(_ h: Host) -> String { "\(dir(h))/sshd.pid" }
    public func myCnf(_ h: Host) -> String { "\(dir(h))/my.cnf" }
    var sshDir: String { "\(root)/ssh" }
    public var sshKey: String { "\(sshDir)/id_ed25519" }
    public var knownHosts: String { "\(sshDir)/known_hosts" }
    public var perl5: String { "\(root)/perl5" }
    public var appCnf: String { "\(root)/mha/app.cnf" }
    public var managerWorkdir: String { "\(root)/mha/work" }
    public var managerLog: String { "\(root)/mha/manager.log" }
    public var backupCnf: String { "\(root)/mha-backup/mha-backup.cnf" }
    public var credentials: String { "\(root)/mha-backup/client.cnf" }
    var initializedMarker: String { "\(root)/.initialized" }

    // MARK: up

    public func up() throws {
        guard getuid() == 0 else {
            throw MBError(.failed, "the sandbox needs root (it starts sshd on port 22 and mariadbd as user 'mysql')")
        }
        for tool in ["mariadbd", "mariadb-install-db", "mariadb", "mariabackup", "mariadb-binlog", "ssh", "ssh-keygen", "zstd",
                     "masterha_manager", "masterha_check_repl", "save_binary_logs"] {
            _ = try ProcessRunner.resolve(tool)
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") else {
            throw MBError(.unavailable, "program '/usr/sbin/sshd' not found", hint: ToolPackages.hint(for: "sshd"))
        }
        let fresh = !FileManager.default.fileExists(atPath: initializedMarker)
        if fresh {
            try? FileManager.default.removeItem(atPath: root)
            try AtomicFile.makeDirectory(root, mode: 0o755)
            try makeSSHKeys()
            try makePerlOverlay()
            try initDatadirs()
        }
        try AtomicFile.makeDirectory("/run/sshd", mode: 0o755)
        for h in hosts {
            try startSSHD(h)
            try startMysqld(h)
        }
        for h in hosts { try waitForMysqld(h) }
        if fresh {
            try bootstrapReplication()
            try writeConfigs()
            try AtomicFile.write("", to: initializedMarker)
        } else {
            try writeConfigs()
        }
        try waitForReplication()
        log("sandbox up: \(hosts.map(\.ip).joined(separator: ", ")) (mariadbd :3306, sshd :22)")
        log("config: \(backupCnf)")
    }

    func sh(_ argv: [String], timeout: TimeInterval = 60, stdin: StdinSource = .null, what: String? = nil) throws -> String {
        let r = try runner.run(Command(argv), timeout: timeout, stdin: stdin)
        guard r.succeeded else {
            throw MBError(.failed, "sandbox: \(what ?? argv[0]) failed: \(r.failureSummary)")
        }
        return r.stdoutString
    }

    func makeSSHKeys() throws {
        try AtomicFile.makeDirectory(sshDir, mode: 0o700)
        _ = try sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mha-backup-sandbox", "-f", sshKey])
        let pub = try String(contentsOfFile: sshKey + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        // MHA's node tools run over ssh and need the overlay with the two MariaDB fixes first.
        try AtomicFile.write("environment=\"PERL5LIB=\(perl5)\" \(pub)\n", to: "\(sshDir)/authorized_keys", mode: 0o600)
        var known = ""
        for h in hosts {
            try AtomicFile.makeDirectory(dir(h), mode: 0o755)
            let key = "\(dir(h))/ssh_host_ed25519_key"
            _ = try sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", key])
            let hostPub = try String(contentsOfFile: key + ".pub", encoding: .utf8)
                .split(separator: " ").prefix(2).joined(separator: " ")
            known += "\(h.ip) \(hostPub)\n"
            let cfg = """
            ListenAddress \(h.ip):22
            HostKey \(key)
            PidFile \(sshdPidFile(h))
            AuthorizedKeysFile \(sshDir)/authorized_keys
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            PermitUserEnvironment PERL5LIB
            StrictModes no
            MaxStartups 100:30:200
            MaxSessions 50
            LogLevel ERROR
            Subsystem sftp /usr/lib/openssh/sftp-server

            """
            try AtomicFile.write(cfg, to: "\(dir(h))/sshd_config", mode: 0o600)
        }
        try AtomicFile.write(known, to: knownHosts, mode: 0o644)
    }

    /// Patched copies of the two MHA modules that break on MariaDB 10.11, first on PERL5LIB.
    /// Generated from the installed files at every fresh `up`; nothing under /usr is edited.
    func makePerlOverlay() throws {
        let src = "/usr/share/perl5/MHA"
        try AtomicFile.makeDirectory("\(perl5)/MHA", mode: 0o755)
        var node = try String(contentsOfFile: "\(src)/NodeUtil.pm", encoding: .utf8)
        let v3 = "sprintf( '%03d%03d%03d', $str =~ m/(\\d+)/g )"
        let v2 = "sprintf( '%03d%03d', $str =~ m/(\\d+)/g )"
        guard node.contains(v3), node.contains(v2) else {
            throw MBError(.failed, "sandbox: \(src)/NodeUtil.pm does not have the expected version parsing; is this MHA 0.58?")
        }
        node = node.replacingOccurrences(of: v3, with: "sprintf( '%03d%03d%03d', $str =~ m/(\\d+)\\.(\\d+)\\.(\\d+)/ )")
        node = node.replacingOccurrences(of: v2, with: "sprintf( '%03d%03d', $str =~ m/(\\d+)\\.(\\d+)/ )")
        try AtomicFile.write(node, to: "\(perl5)/MHA/NodeUtil.pm")
        var slave = try String(contentsOfFile: "\(src)/SlaveUtil.pm", encoding: .utf8)
        let exec = "my $sth = $dbh->prepare(\"SELECT \\@\\@global.super_read_only as Value\");\n  $sth->execute();"
        guard slave.contains(exec) else {
            throw MBError(.failed, "sandbox: \(src)/SlaveUtil.pm does not have the expected super_read_only check; is this MHA 0.58?")
        }
        slave = slave.replacingOccurrences(
            of: exec,
            with: "my $sth = $dbh->prepare(\"SELECT \\@\\@global.super_read_only as Value\");\n  return (0, 0) unless eval { $sth->execute(); 1 };")
        try AtomicFile.write(slave, to: "\(perl5)/MHA/SlaveUtil.pm")
    }

    func writeMyCnf(_ h: Host) throws {
        let cnf = """
        # mha-backup sandbox host \(h.name) (\(h.ip))
        [client-server]
        socket = \(socket(h))
        port = 3306

        [mysqld]
        user = mysql
        datadir = \(datadir(h))
        pid-file = \(mysqldPidFile(h))
        bind-address = \(h.ip)
        server-id = \(h.serverId)
        log-bin = mysql-bin
        log-slave-updates = 1
        relay-log = relay-bin
        binlog-format = ROW
        read-only = 1
        skip-name-resolve = 1
        log-error = \(dir(h))/mysqld.err
        innodb-buffer-pool-size = 256M
        innodb-log-file-size = 256M
        max-connections = 200
        skip-slave-start = 0
        performance-schema = 0
        # who holds a backup lock (information_schema.METADATA_LOCK_INFO), for the failover hooks
        plugin-load-add = metadata_lock_info.so

        """
        try AtomicFile.write(cnf, to: myCnf(h))
    }

    func initDatadirs() throws {
        for h in hosts {
            try AtomicFile.makeDirectory(dir(h), mode: 0o755)
            try writeMyCnf(h)
        }
        // One install, copied: a third of the time, and MariaDB keeps no server uuid on disk.
        let first = hosts[0]
        _ = try sh(["mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir=\(datadir(first))",
                    "--auth-root-authentication-method=socket", "--skip-test-db"], timeout: 120, what: "mariadb-install-db")
        for h in hosts.dropFirst() {
            _ = try sh(["cp", "-a", datadir(first), datadir(h)])
        }
        for h in hosts {
            _ = try sh(["chown", "-R", "mysql:mysql", dir(h)])
            _ = try sh(["chmod", "755", dir(h)])
        }
    }

    func pid(from file: String) -> pid_t? {
        (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func startSSHD(_ h: Host) throws {
        if let p = pid(from: sshdPidFile(h)), ProcessRunner.isAlive(p) { return }
        // sshd daemonizes itself and writes its pid file.
        _ = try sh(["/usr/sbin/sshd", "-f", "\(dir(h))/sshd_config"], timeout: 20, what: "sshd for \(h.ip)")
        let end = Date().addingTimeInterval(10)
        while Date() < end {
            if let p = pid(from: sshdPidFile(h)), ProcessRunner.isAlive(p) { return }
            usleep(50_000)
        }
        throw MBError(.failed, "sandbox: sshd on \(h.ip):22 did not start")
    }

    func startMysqld(_ h: Host) throws {
        if let p = pid(from: mysqldPidFile(h)), ProcessRunner.isAlive(p) { return }
        try? FileManager.default.removeItem(atPath: socket(h))
        try ProcessRunner.spawnDetached(Command(["mariadbd", "--defaults-file=\(myCnf(h))"]),
                                        logFile: "\(dir(h))/mysqld.out")
    }

    func rootSQL(_ h: Host, _ sql: String, timeout: TimeInterval = 30) throws -> String {
        try sh(["mariadb", "--no-defaults", "--socket=\(socket(h))", "-uroot", "--batch"], timeout: timeout,
               stdin: .data(Data(sql.utf8)), what: "SQL on \(h.ip)")
    }

    func waitForMysqld(_ h: Host) throws {
        let end = Date().addingTimeInterval(60)
        while Date() < end {
            if FileManager.default.fileExists(atPath: socket(h)),
               (try? rootSQL(h, "SELECT 1", timeout: 5)) != nil { return }
            usleep(100_000)
        }
        let err = (try? String(contentsOfFile: "\(dir(h))/mysqld.err", encoding: .utf8))?
            .split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
        throw MBError(.failed, "sandbox: mariadbd on \(h.ip) did not answer within 60 s\n\(err)")
    }

    func sqlString(_ s: String) -> String { "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'" }

    func bootstrapReplication() throws {
        let m = hosts[0]
        let setup = """
        SET GLOBAL read_only = 0;
        CREATE USER 'mha'@'%' IDENTIFIED BY \(sqlString(Self.mhaPassword));
        GRANT ALL PRIVILEGES ON *.* TO 'mha'@'%' WITH GRANT OPTION;
        CREATE USER 'repl'@'%' IDENTIFIED BY \(sqlString(Self.replPassword));
        GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
        CREATE USER 'backup'@'%' IDENTIFIED BY \(sqlString(Self.backupPassword));
        CREATE USER 'backup'@'localhost' IDENTIFIED BY \(sqlString(Self.backupPassword));
        GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION CLIENT, REPLICATION SLAVE, SLAVE MONITOR,
              SELECT, SHOW VIEW, EVENT, TRIGGER, SHOW DATABASES, CONNECTION ADMIN, BINLOG ADMIN, REPLICATION SLAVE ADMIN ON *.* TO 'backup'@'%';
        GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, REPLICATION CLIENT, REPLICATION SLAVE, SLAVE MONITOR,
              SELECT, SHOW VIEW, EVENT, TRIGGER, SHOW DATABASES, CONNECTION ADMIN, BINLOG ADMIN, REPLICATION SLAVE ADMIN ON *.* TO 'backup'@'localhost';
        CREATE DATABASE lab;
        CREATE TABLE lab.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), seq INT NULL, KEY(seq)) ENGINE=InnoDB;
        INSERT INTO lab.t (v) VALUES ('seed-1'), ('seed-2'), ('seed-3');
        """
        _ = try rootSQL(m, setup)
        for r in hosts.dropFirst() {
            _ = try rootSQL(r, """
            CHANGE MASTER TO MASTER_HOST='\(m.ip)', MASTER_PORT=3306, MASTER_USER='repl',
              MASTER_PASSWORD=\(sqlString(Self.replPassword)), MASTER_LOG_FILE='mysql-bin.000001', MASTER_LOG_POS=4,
              MASTER_USE_GTID=no;
            START SLAVE;
            """)
        }
    }

    func waitForReplication() throws {
        let end = Date().addingTimeInterval(30)
        var last = ""
        while Date() < end {
            var ok = true
            for h in hosts {
                let out = (try? rootSQL(h, "SHOW SLAVE STATUS", timeout: 5)) ?? ""
                let rows = ResultText.parseBatch(out)
                guard let r = rows.first else { continue }  // the master
                if r.first("Slave_IO_Running") != "Yes" || r.first("Slave_SQL_Running") != "Yes" {
                    ok = false
                    last = "\(h.ip): IO=\(r.first("Slave_IO_Running") ?? "?") SQL=\(r.first("Slave_SQL_Running") ?? "?") \(r.first("Last_IO_Error") ?? "") \(r.first("Last_SQL_Error") ?? "")"
                }
            }
            if ok { return }
            usleep(100_000)
        }
        log("warning: replication not running everywhere: \(last)")
    }

    /// The hooks folder of the repository, when the sandbox runs from a checkout that has them.
    func hook(_ name: String) -> String? {
        guard let dir = hooksDir ?? repo.map({ "\($0)/hooks" }) else { return nil }
        let p = "\(dir)/\(name)"
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }

    func writeConfigs() throws {
        try AtomicFile.makeDirectory("\(root)/mha", mode: 0o700)
        try AtomicFile.makeDirectory(managerWorkdir, mode: 0o700)
        let sshOptions = "-i \(sshKey) -o UserKnownHostsFile=\(knownHosts) -o StrictHostKeyChecking=yes"
        var app = """
        # MHA application config of the mha-backup sandbox (generated by `mha-backup sandbox up`).
        [server default]
        user=mha
        password=\(Self.mhaPassword)
        repl_user=repl
        repl_password=\(Self.replPassword)
        ssh_user=root
        manager_workdir=\(managerWorkdir)
        manager_log=\(managerLog)
        ping_interval=1

        """
        for (name, key) in [("master_ip_failover", "master_ip_failover_script"), ("shutdown_script", "shutdown_script"),
                            ("report_script", "report_script"), ("master_ip_online_change", "master_ip_online_change_script")] {
            if let p = hook(name) { app += "\(key)=\(p) --config=\(backupCnf)\n" }
        }
        for h in hosts {
            try AtomicFile.makeDirectory("\(dir(h))/mha-remote", mode: 0o755)
            app += """

            [server\(h.index)]
            hostname=\(h.ip)
            port=3306
            master_binlog_dir=\(datadir(h))
            remote_workdir=\(dir(h))/mha-remote
            master_pid_file=\(mysqldPidFile(h))
            candidate_master=1
            ssh_options=\(sshOptions)

            """
        }
        try AtomicFile.write(app, to: appCnf, mode: 0o600)

        try AtomicFile.makeDirectory("\(root)/mha-backup", mode: 0o700)
        try AtomicFile.write("""
        [client]
        user=backup
        password=\(Self.backupPassword)

        """, to: credentials, mode: 0o600)
        var cnf = """
        # mha-backup config of the sandbox (generated by `mha-backup sandbox up`).
        [mha-backup]
        mha_conf = \(appCnf)
        credentials = \(credentials)
        state_dir = \(root)/mha-backup/state
        store_dir = \(root)/mha-backup/store

        [backup]
        source = replica
        method = mariabackup
        compression = zstd
        max_parallel = 2
        nice = 10
        remote_tmpdir = \(root)/tmp
        # every host shares this file system, so the same credentials file serves them all
        remote_credentials = \(credentials)

        [ssh]
        connect_timeout = 5
        identity = \(sshKey)
        known_hosts = \(knownHosts)

        [binlog]
        stream_server_id = \(4_242_000 + base)

        [hooks]
        on_failover = pause
        critical_path_seconds = 2
        salvage_wait = 60
        kill_foreign_backup_locks = yes
        full_backup_after_failover = yes

        """
        for h in hosts {
            cnf += "\n[host \(h.ip)]\ndatadir = \(datadir(h))\nsocket = \(socket(h))\n"
        }
        try AtomicFile.makeDirectory("\(root)/tmp", mode: 0o1777)
        try AtomicFile.write(cnf, to: backupCnf, mode: 0o600)
    }

    // MARK: down, status, kill

    /// Stops every daemon the sandbox started (pid files under the root) and removes the root
    /// unless `keep`. Safe to run when nothing is up.
    public func down(keep: Bool = false) throws {
        stopManager()
        // A manager the sandbox or a test started.
        for pidFile in (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/mha"))?
            .filter({ $0.hasSuffix(".pid") }).map({ "\(root)/mha/\($0)" }) ?? [] {
            if let p = pid(from: pidFile), ProcessRunner.isAlive(p) {
                kill(-p, SIGKILL); kill(p, SIGKILL)
            }
        }
        // Workers our commands detached inside the sandbox (stream, jobs) record themselves there.
        stopRecordedWorkers()
        var pids: [pid_t] = []
        for h in hosts {
            if let p = pid(from: mysqldPidFile(h)), ProcessRunner.isAlive(p) { kill(p, SIGTERM); pids.append(p) }
            if let p = pid(from: sshdPidFile(h)), ProcessRunner.isAlive(p) { kill(p, SIGTERM); pids.append(p) }
        }
        let end = Date().addingTimeInterval(30)
        while Date() < end, pids.contains(where: ProcessRunner.isAlive) { usleep(50_000) }
        for p in pids where ProcessRunner.isAlive(p) { kill(p, SIGKILL) }
        // sshd session children of killed listeners, and tools left running on a host that "died"
        // (on a real dead host they die with it; here every host shares this machine).
        for h in hosts { killMatching("sshd_config", containing: "\(dir(h))/sshd_config") }
        killMatching("sandbox", containing: root + "/")
        if !keep { try? FileManager.default.removeItem(atPath: root) }
        log("sandbox down")
    }

    func stopRecordedWorkers() {
        let jobs = "\(root)/mha-backup/state/jobs"
        for f in (try? FileManager.default.contentsOfDirectory(atPath: jobs)) ?? [] where f.hasSuffix(".json") {
            if let j = try? JSON.load(JobRecord.self, path: "\(jobs)/\(f)") {
                if j.pgid > 0 { kill(-j.pgid, SIGCONT); kill(-j.pgid, SIGKILL) }
                if ProcessRunner.isAlive(j.pid) { kill(j.pid, SIGCONT); kill(j.pid, SIGKILL) }
            }
        }
        let streamPid = "\(root)/mha-backup/state/binlog-stream.pid"
        if let p = pid(from: streamPid), ProcessRunner.isAlive(p) { kill(-p, SIGKILL); kill(p, SIGKILL) }
    }

    /// Kills processes whose command line contains `needle` (sandbox-owned only: the needle is a path under root).
    func killMatching(_ label: String, containing needle: String) {
        guard needle.hasPrefix(root) else { return }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let p = pid_t(entry), p != getpid() else { continue }
            guard let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let cmdline = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            if cmdline.contains(needle) { kill(p, SIGKILL) }
        }
    }

    public struct HostStatus: Codable, Sendable {
        public var host: String
        public var mysqld: Bool
        public var sshd: Bool
        public var role: String
    }

    public func status() -> [HostStatus] {
        hosts.map { h in
            let my = pid(from: mysqldPidFile(h)).map(ProcessRunner.isAlive) ?? false
            let ss = pid(from: sshdPidFile(h)).map(ProcessRunner.isAlive) ?? false
            var role = "down"
            if my, let ro = try? rootSQL(h, "SELECT @@read_only AS ro", timeout: 5),
               let slave = try? rootSQL(h, "SHOW SLAVE STATUS", timeout: 5) {
                let replica = ResultText.parseBatch(slave).first.flatMap(ReplicaStatus.init(row:))
                if let r = replica, r.ioRunning != "No" || r.sqlRunning { role = "replica" }
                else { role = ResultText.parseBatch(ro).first?.first("ro") == "0" ? "master" : "read-only" }
            }
            return HostStatus(host: h.ip, mysqld: my, sshd: ss, role: role)
        }
    }

    public var isUp: Bool { FileManager.default.fileExists(atPath: initializedMarker) }

    /// Kills the current master: its mysqld (kill -9), and with `wholeHost` its sshd too.
    @discardableResult
    public func killMaster(wholeHost: Bool) throws -> String {
        guard let m = status().first(where: { $0.role == "master" }), let h = hosts.first(where: { $0.ip == m.host }) else {
            throw MBError(.failed, "sandbox: no running master found")
        }
        if wholeHost, let p = pid(from: sshdPidFile(h)) {
            kill(p, SIGKILL)
            killMatching("sshd", containing: "\(dir(h))/sshd_config")
        }
        if let p = pid(from: mysqldPidFile(h)) { kill(p, SIGKILL) }
        log("killed \(wholeHost ? "host" : "mysqld of") \(h.ip)")
        return h.ip
    }

    // MARK: MHA

    public var managerPidFile: String { "\(root)/mha/manager.pid" }

    /// The environment MHA's programs need here: the overlay first on PERL5LIB, our config.
    public var mhaEnvironment: [String: String] {
        ["PERL5LIB": perl5 + (ProcessInfo.processInfo.environment["PERL5LIB"].map { ":\($0)" } ?? ""),
         "MHA_BACKUP_CONFIG": backupCnf]
    }

    /// Starts masterha_manager in the background and waits until it monitors the master.
    @discardableResult
    public func startManager(extraEnv: [String: String] = [:], timeout: TimeInterval = 60) throws -> pid_t {
        if let p = pid(from: managerPidFile), ProcessRunner.isAlive(p) { return p }
        let before = (try? String(contentsOfFile: managerLog, encoding: .utf8))?.utf8.count ?? 0
        var env = mhaEnvironment
        for (k, v) in extraEnv { env[k] = v }
        let p = try ProcessRunner.spawnDetached(
            Command(["masterha_manager", "--conf=\(appCnf)", "--ignore_last_failover"], environment: env),
            logFile: "\(root)/mha/manager.out")
        try AtomicFile.write("\(p)\n", to: managerPidFile)
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            let log = (try? String(contentsOfFile: managerLog, encoding: .utf8)) ?? ""
            let fresh = String(log.utf8.dropFirst(before)) ?? ""
            if fresh.contains("waiting until MySQL doesn't respond") { return p }
            if !ProcessRunner.isAlive(p) {
                ProcessRunner.reap(p)
                let tail = fresh.split(separator: "\n").suffix(8).joined(separator: "\n")
                throw MBError(.failed, "masterha_manager exited before monitoring:\n\(tail)")
            }
            usleep(100_000)
        }
        kill(p, SIGKILL)
        throw MBError(.failed, "masterha_manager did not start monitoring within \(Int(timeout)) s (see \(managerLog))")
    }

    /// Waits for the manager to exit (it does after one failover); returns the new master's ip, if any.
    public func waitManager(timeout: TimeInterval = 120) throws -> String? {
        guard let p = pid(from: managerPidFile) else { return nil }
        let end = Date().addingTimeInterval(timeout)
        while Date() < end, ProcessRunner.isAlive(p) {
            ProcessRunner.reap(p)
            usleep(100_000)
        }
        if ProcessRunner.isAlive(p) {
            kill(p, SIGKILL)
            throw MBError(.failed, "masterha_manager still runs after \(Int(timeout)) s; killed (see \(managerLog))")
        }
        ProcessRunner.reap(p)
        unlink(managerPidFile)
        let log = (try? String(contentsOfFile: managerLog, encoding: .utf8)) ?? ""
        guard let line = log.split(separator: "\n").last(where: { $0.contains("Master failover to") && $0.contains("completed successfully") }) else {
            return nil
        }
        return ToolOutput.firstMatch(#"Master failover to [^(]*\(([0-9.]+):"#, in: String(line))
    }

    public func stopManager() {
        if let p = pid(from: managerPidFile), ProcessRunner.isAlive(p) {
            kill(p, SIGTERM)
            usleep(300_000)
            if ProcessRunner.isAlive(p) { kill(p, SIGKILL) }
            ProcessRunner.reap(p)
        }
        unlink(managerPidFile)
    }

    /// A whole failover: manager up, master killed (host or mysqld), manager finished.
    public func failover(wholeHost: Bool, extraEnv: [String: String] = [:]) throws -> (dead: String, new: String?) {
        try startManager(extraEnv: extraEnv)
        let dead = try killMaster(wholeHost: wholeHost)
        let new = try waitManager()
        log(new.map { "failover done: \(dead) -> \($0)" } ?? "failover did not complete (see \(managerLog))")
        return (dead, new)
    }

    /// A planned online switch with masterha_master_switch --master_state=alive.
    public func onlineSwitch(to newMaster: String, extraEnv: [String: String] = [:]) throws -> PipelineResult {
        guard status().contains(where: { $0.role == "master" }) else { throw MBError(.failed, "sandbox: no master") }
        var env = mhaEnvironment
        for (k, v) in extraEnv { env[k] = v }
        let cmd = Command(["masterha_master_switch", "--conf=\(appCnf)", "--master_state=alive",
                           "--new_master_host=\(newMaster)", "--new_master_port=3306",
                           "--orig_master_is_new_slave", "--interactive=0", "--running_updates_limit=10000"], environment: env)
        return try runner.run(cmd, timeout: 120)
    }

    /// Runs SQL as root on a sandbox host through its socket (tests and the demo use it).
    public func sql(host ip: String, _ sql: String, timeout: TimeInterval = 30) throws -> String {
        guard let h = hosts.first(where: { $0.ip == ip }) else { throw MBError.usage("no sandbox host \(q(ip))") }
        return try rootSQL(h, sql, timeout: timeout)
    }

    public func socketPath(host ip: String) -> String? { hosts.first(where: { $0.ip == ip }).map(socket) }
    public func datadirPath(host ip: String) -> String? { hosts.first(where: { $0.ip == ip }).map(datadir) }
}
