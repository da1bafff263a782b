import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// A private temp folder per test; removed by `cleanup()`.
struct TempDir {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("mhab-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
    }

    /// Writes `text` to `name` with `mode` and returns the full path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let p = path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: p)
        return p
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// The MBError a throwing expression threw (fails the test if it threw something else or nothing).
func mbError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> MBError? {
    do {
        try body()
        Issue.record("expected an MBError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as MBError {
        return e
    } catch {
        Issue.record("expected an MBError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

// MARK: - INI

@Suite("INIFile")
struct INIFileTests {
    @Test("comment lines (# and ;, indented too) are skipped; entries keep their line numbers")
    func comments() throws {
        let text = """
            # top comment
            ; another
            [a]
              # indented comment
            x = 1
            \t; tab-indented comment

            y=two words
            [b]
            z =
            """
        let ini = try INIFile.parse(text, path: "t.cnf", inlineComments: true)
        #expect(ini.sections.map(\.name) == ["a", "b"])
        #expect(ini.sections.map(\.line) == [3, 9])
        #expect(ini.section("a")?.entries == [
            INIFile.Entry(key: "x", value: "1", line: 5),
            INIFile.Entry(key: "y", value: "two words", line: 8),
        ])
        #expect(ini.section("b")?.entries == [INIFile.Entry(key: "z", value: "", line: 10)])
        #expect(ini.section("c") == nil)
    }

    @Test("inline comments on: ' #' and ' ;' end the value; '#' or ';' inside a word stays")
    func inlineOn() throws {
        let text = "[s]\na = value # comment\nb = v2 ; note\nc = p#ss;word\nd = x\t# tab before\n"
        let s = try #require(try INIFile.parse(text, path: "t.cnf", inlineComments: true).section("s"))
        #expect(s.value("a") == "value")
        #expect(s.value("b") == "v2")
        #expect(s.value("c") == "p#ss;word")
        #expect(s.value("d") == "x")
    }

    @Test("inline comments off (MHA's Config::Tiny): the rest of the line is the value")
    func inlineOff() throws {
        let text = "[s]\na = value # comment\nb = v2 ; note\n"
        let s = try #require(try INIFile.parse(text, path: "t.cnf", inlineComments: false).section("s"))
        #expect(s.value("a") == "value # comment")
        #expect(s.value("b") == "v2 ; note")
    }

    @Test("malformed section header is an error naming file:line")
    func malformedHeader() {
        let e = mbError { _ = try INIFile.parse("[ok]\na = 1\n[server1\nb = 2\n", path: "/etc/x.cnf", inlineComments: true) }
        #expect(e?.code == .config)
        #expect(e?.message == "/etc/x.cnf:3: malformed section header '[server1'")
    }

    @Test("a key before any section is an error naming file:line and key")
    func keyOutsideSection() {
        let e = mbError { _ = try INIFile.parse("# c\nuser = mha\n[s]\n", path: "app.cnf", inlineComments: false) }
        #expect(e?.code == .config)
        #expect(e?.message == "app.cnf:2: key 'user' outside any [section]")
    }

    @Test("a line without '=' and an empty key are errors naming file:line")
    func badLines() {
        let e1 = mbError { _ = try INIFile.parse("[s]\nno equals here\n", path: "a.cnf", inlineComments: true) }
        #expect(e1?.message == "a.cnf:2: expected 'key = value', got 'no equals here'")
        let e2 = mbError { _ = try INIFile.parse("[s]\n\n = v\n", path: "a.cnf", inlineComments: true) }
        #expect(e2?.message == "a.cnf:3: empty key")
    }

    @Test("a repeated key: last wins; section-name spaces trimmed")
    func repeats() throws {
        let ini = try INIFile.parse("[ server default ]\nk = 1\nk = 2\n", path: "t", inlineComments: true)
        let s = try #require(ini.section("server default"))
        #expect(s.value("k") == "2")
        #expect(s.entry("k")?.line == 3)
        #expect(s.entries.count == 2)
    }

    @Test("CRLF line ends (a file edited on Windows) parse like LF")
    func crlf() throws {
        // Swift's Character "\r\n" is not "\n": the parser normalises line ends first.
        let ini = try INIFile.parse("[server default]\r\nk = 1\r\n", path: "t", inlineComments: true)
        #expect(ini.section("server default")?.value("k") == "1")
    }

    @Test("load: a missing file is a config error naming the path")
    func loadMissing() {
        let e = mbError { _ = try INIFile.load("/nonexistent/mhab-test.cnf", inlineComments: true) }
        #expect(e?.code == .config)
        #expect(e?.message == "cannot read config file '/nonexistent/mhab-test.cnf'")
    }
}

// MARK: - file modes

@Suite("requirePrivate (config and credentials file modes)")
struct RequirePrivateTests {
    @Test("0644 is refused with .insecureFile and a chmod hint; 0640 too; 0600 and 0400 pass")
    func modes() throws {
        let d = try TempDir()
        defer { d.cleanup() }
        let open = try d.write("open.cnf", "[s]\n", mode: 0o644)
        let e = mbError { try requirePrivate(open, what: "config file") }
        #expect(e?.code == .insecureFile)
        #expect(e?.message == "config file '\(open)' has mode 0644; group and others must not read it")
        #expect(e?.hint == "chmod 600 \(open)")
        let group = try d.write("group.cnf", "[s]\n", mode: 0o640)
        #expect(mbError { try requirePrivate(group, what: "credentials file") }?.code == .insecureFile)
        try requirePrivate(try d.write("private.cnf", "[s]\n", mode: 0o600), what: "config file")
        try requirePrivate(try d.write("ro.cnf", "[s]\n", mode: 0o400), what: "config file")
    }

    @Test("a missing file is a config error")
    func missing() {
        let e = mbError { try requirePrivate("/nonexistent/mhab-creds.cnf", what: "credentials file") }
        #expect(e?.code == .config)
        #expect(e?.message.hasPrefix("cannot stat credentials file '/nonexistent/mhab-creds.cnf'") == true)
    }
}

// MARK: - MHA app.cnf

@Suite("MHAAppConfig")
struct MHAAppConfigTests {
    /// Shaped like the lab's app.cnf (hook-calls-observed.md), with the variations MHA allows.
    static let appCnf = """
        [server default]
        user=mha
        password=mhapass # not a comment for Config::Tiny
        repl_user=repl
        repl_password=replpass
        ssh_user=root
        ssh_port=2222
        manager_workdir=/var/lib/mha-lab/mha
        manager_log="/var/lib/mha-lab/mha/manager.log"
        remote_workdir=/var/lib/mha-lab/remote
        master_binlog_dir=/var/lib/mha-lab/h1/data, /var/lib/mha-lab/h1/binlog
        ping_interval=1

        [server10]
        hostname=lab-h3
        ip=127.0.0.13
        ssh_user='deploy'

        [server2]
        hostname=127.0.0.12
        candidate_master=1
        ssh_options=-i /var/lib/mha-lab/ssh/id -o UserKnownHostsFile=/var/lib/mha-lab/ssh/known_hosts

        [server1]
        hostname=127.0.0.11
        port=3306
        ssh_port=22
        no_master=1
        bogus_key=1

        [binlog1]
        hostname=127.0.0.14
        """

    static func parse(_ text: String, warn: (String) -> Void = { _ in }) throws -> MHAAppConfig {
        try MHAAppConfig.parse(try INIFile.parse(text, path: "/etc/mha/app.cnf", inlineComments: false), warn: warn)
    }

    @Test("servers are ordered by the number in the block name, not by file order")
    func ordering() throws {
        let c = try Self.parse(Self.appCnf)
        #expect(c.servers.map(\.block) == ["server1", "server2", "server10"])
        #expect(c.servers.map(\.hostname) == ["127.0.0.11", "127.0.0.12", "lab-h3"])
        #expect(c.binlogServers.map(\.hostname) == ["127.0.0.14"])
    }

    @Test("[server default] is inherited; a block overrides it; ssh_port is read")
    func inheritance() throws {
        let c = try Self.parse(Self.appCnf)
        let s1 = try #require(c.server(named: "server1"))
        let s2 = try #require(c.server(named: "127.0.0.12"))
        let s10 = try #require(c.server(named: "lab-h3"))
        #expect(s1.sshPort == 22)            // own value
        #expect(s2.sshPort == 2222)          // inherited
        #expect(s10.sshPort == 2222)
        #expect(s1.port == 3306)
        #expect(s2.port == 3306)             // default
        #expect(s1.noMaster && !s1.candidateMaster)
        #expect(s2.candidateMaster && !s2.noMaster)
        #expect(s2.sshUser == "root")
        #expect(s1.remoteWorkdir == "/var/lib/mha-lab/remote")
        #expect(s1.masterBinlogDir == ["/var/lib/mha-lab/h1/data", "/var/lib/mha-lab/h1/binlog"])
        #expect(s2.sshOptions == "-i /var/lib/mha-lab/ssh/id -o UserKnownHostsFile=/var/lib/mha-lab/ssh/known_hosts")
        #expect(s1.sshOptions == nil)
        #expect(s10.ip == "127.0.0.13")
        #expect(s10.address == "127.0.0.13")
        #expect(s10.sshHost == "lab-h3")
        #expect(s10.key == "lab-h3:3306")
        #expect(s1.ip == "127.0.0.11")       // no ip= means the hostname
        #expect(c.managerWorkdir == "/var/lib/mha-lab/mha")
        #expect(c.user == "mha")
        #expect(c.server(named: "127.0.0.13")?.block == "server10")
        #expect(c.server(named: "lab-h3:3306")?.block == "server10")
        #expect(c.server(named: "127.0.0.99") == nil)
    }

    @Test("quotes are stripped the way MHA does; no inline comments in MHA files")
    func quotes() throws {
        let c = try Self.parse(Self.appCnf)
        #expect(c.managerLog == "/var/lib/mha-lab/mha/manager.log")
        #expect(c.server(named: "server10")?.sshUser == "deploy")
        #expect(c.defaults["password"] == "mhapass # not a comment for Config::Tiny")
        // Config.pm only looks at the end of the value: a trailing quote goes, a leading one with it.
        #expect(MHAAppConfig.mhaValue("'abc'") == "abc")
        #expect(MHAAppConfig.mhaValue("\"abc\"") == "abc")
        #expect(MHAAppConfig.mhaValue("abc'") == "abc")
        #expect(MHAAppConfig.mhaValue("'abc") == "'abc")
        #expect(MHAAppConfig.mhaValue("a'b") == "a'b")
    }

    @Test("unknown keys warn with file:line:key and are ignored")
    func unknownKeyWarns() throws {
        var warnings: [String] = []
        _ = try Self.parse(Self.appCnf) { warnings.append($0) }
        #expect(warnings == ["/etc/mha/app.cnf:29: unknown MHA key 'bogus_key' (ignored)"])
    }

    @Test("a block that is not 'server default', serverN or binlogN is an error naming file:line")
    func invalidBlock() {
        let e = mbError { _ = try Self.parse("[server default]\nuser=mha\n\n[mysql1]\nhostname=h\n") }
        #expect(e?.code == .config)
        #expect(e?.message == "/etc/mha/app.cnf:4: block 'mysql1' is invalid; MHA wants 'server default', 'serverN' or 'binlogN'")
        #expect(mbError { _ = try Self.parse("[server]\nhostname=h\n") }?.message.hasPrefix("/etc/mha/app.cnf:1: block 'server' is invalid") == true)
    }

    @Test("missing hostname, a bad port, and no [serverN] are errors")
    func errors() {
        #expect(mbError { _ = try Self.parse("[server1]\nport=3306\n") }?.message ==
                "/etc/mha/app.cnf:1: [server1] has no 'hostname'")
        #expect(mbError { _ = try Self.parse("[server default]\nssh_port=ssh\n[server1]\nhostname=h\n") }?.message ==
                "/etc/mha/app.cnf:2: 'ssh_port' must be a port number, got 'ssh'")
        #expect(mbError { _ = try Self.parse("[server1]\nhostname=h\nport=70000\n") }?.message ==
                "/etc/mha/app.cnf:3: 'port' must be a port number, got '70000'")
        #expect(mbError { _ = try Self.parse("[server default]\nuser=mha\n") }?.message ==
                "/etc/mha/app.cnf: no [serverN] block")
    }

    @Test("load reads a file from disk (no mode check: app.cnf belongs to MHA)")
    func load() throws {
        let d = try TempDir()
        defer { d.cleanup() }
        let p = try d.write("app.cnf", Self.appCnf, mode: 0o644)
        let c = try MHAAppConfig.load(p, warn: { _ in })
        #expect(c.path == p)
        #expect(c.servers.count == 3)
    }
}

// MARK: - mha-backup.cnf

@Suite("BackupConfig")
struct BackupConfigTests {
    static let full = """
        # mha-backup.cnf
        [mha-backup]
        mha_conf = /etc/mha/app.cnf
        credentials = /etc/mha-backup/credentials.cnf   # client credentials, mode 0600
        state_dir = /var/lib/mha-backup/state
        store_dir = /srv/mha-backup
        flavor = mariadb

        [backup]
        source = slave
        method = mariabackup
        compression = gzip
        compression_level = 9
        max_parallel = 3
        nice = 5
        ionice_class = none
        timeout = 7200
        remote_tmpdir = /data/tmp
        fence_ttl = 600

        [ssh]
        connect_timeout = 7
        identity = /root/.ssh/id_backup
        known_hosts = /etc/mha-backup/known_hosts
        options = -o Compression=no  -o IPQoS=throughput

        [client]
        timeout = 20

        [binlog]
        stream_server_id = 4242999
        timeout = 60

        [host db-1.example.com]
        datadir = /data/mysql
        socket = /run/mysqld/mysqld.sock
        remote_credentials = /root/.mha-backup.cnf
        """

    static func parse(_ text: String, warn: (String) -> Void = { _ in }) throws -> BackupConfig {
        try BackupConfig.parse(try INIFile.parse(text, path: "/etc/mha-backup/mha-backup.cnf", inlineComments: true),
                               warn: warn)
    }

    @Test("every key is read, inline comments stripped")
    func full() throws {
        var warnings: [String] = []
        let c = try Self.parse(Self.full) { warnings.append($0) }
        #expect(warnings.isEmpty)
        #expect(c.mhaConf == "/etc/mha/app.cnf")
        #expect(c.credentials == "/etc/mha-backup/credentials.cnf")
        #expect(c.stateDir == "/var/lib/mha-backup/state")
        #expect(c.storeDir == "/srv/mha-backup")
        #expect(c.mysqlFlavor == .mariadb)
        #expect(c.source == .replica)
        #expect(c.method == .mariabackup)
        #expect(c.compression == .gzip)
        #expect(c.compressionLevel == 9)
        #expect(c.maxParallel == 3)
        #expect(c.nice == 5)
        #expect(c.ioniceClass == nil)
        #expect(c.backupTimeout == 7200)
        #expect(c.remoteTmpdir == "/data/tmp")
        #expect(c.fenceTTL == 600)
        #expect(c.sshConnectTimeout == 7)
        #expect(c.sshIdentity == "/root/.ssh/id_backup")
        #expect(c.sshKnownHosts == "/etc/mha-backup/known_hosts")
        #expect(c.sshOptions == ["-o", "Compression=no", "-o", "IPQoS=throughput"])
        #expect(c.clientTimeout == 20)
        #expect(c.streamServerId == 4_242_999)
        #expect(c.binlogTimeout == 60)
        #expect(c.jobsDir == "/var/lib/mha-backup/state/jobs")
        #expect(c.backupsDir == "/srv/mha-backup/backups")
    }

    @Test("[host X] sections give per-host settings; other hosts get empty settings")
    func hostSections() throws {
        let c = try Self.parse(Self.full)
        #expect(c.hosts.count == 1)
        #expect(c.host("db-1.example.com") == HostSettings(
            datadir: "/data/mysql", socket: "/run/mysqld/mysqld.sock", remoteCredentials: "/root/.mha-backup.cnf"))
        #expect(c.host("db-2.example.com") == HostSettings())
    }

    @Test("the two required keys alone give the documented defaults")
    func defaults() throws {
        let c = try Self.parse("[mha-backup]\nmha_conf = /etc/mha/app.cnf\ncredentials = /etc/mha-backup/c.cnf\n")
        #expect(c.stateDir == "/var/lib/mha-backup/state")
        #expect(c.storeDir == "/var/lib/mha-backup/store")
        #expect(c.source == .replica)
        #expect(c.method == .mariabackup)
        #expect(c.compression == .zstd)
        #expect(c.compressionLevel == nil)
        #expect(c.maxParallel == 2)
        #expect(c.ioniceClass == 2)
        #expect(c.sshConnectTimeout == 5)
        #expect(c.sshOptions == [])
        #expect(c.mysqlFlavor == .auto)
        #expect(c.hosts.isEmpty)
    }

    @Test("source = master / a host name")
    func sourcePolicy() throws {
        let base = "[mha-backup]\nmha_conf = /a\ncredentials = /b\n[backup]\nsource = "
        #expect(try Self.parse(base + "master\n").source == .master)
        #expect(try Self.parse(base + "replica\n").source == .replica)
        #expect(try Self.parse(base + "db-3\n").source == .host("db-3"))
    }

    @Test("a missing required key is a .config error naming the file and the key")
    func missingKey() {
        let e = mbError { _ = try Self.parse("[mha-backup]\nmha_conf = /etc/mha/app.cnf\n") }
        #expect(e?.code == .config)
        #expect(e?.message == "/etc/mha-backup/mha-backup.cnf:1: [mha-backup] is missing required key 'credentials'")
        let e2 = mbError { _ = try Self.parse("[backup]\nmax_parallel = 2\n") }
        #expect(e2?.code == .config)
        #expect(e2?.message == "/etc/mha-backup/mha-backup.cnf: missing section [mha-backup] (required key 'mha_conf')")
        let e3 = mbError { _ = try Self.parse("[mha-backup]\nmha_conf =\ncredentials = /b\n") }
        #expect(e3?.message == "/etc/mha-backup/mha-backup.cnf:1: [mha-backup] is missing required key 'mha_conf'")
    }

    @Test("a bad or out-of-range integer names file:line:key")
    func badInteger() {
        let base = "[mha-backup]\nmha_conf = /a\ncredentials = /b\n[backup]\n"
        let e = mbError { _ = try Self.parse(base + "max_parallel = lots\n") }
        #expect(e?.code == .config)
        #expect(e?.message == "/etc/mha-backup/mha-backup.cnf:5: 'max_parallel' must be a whole number in 1...64, got 'lots'")
        #expect(mbError { _ = try Self.parse(base + "nice = 5 # nicer\nmax_parallel = 0\n") }?.message ==
                "/etc/mha-backup/mha-backup.cnf:6: 'max_parallel' must be a whole number in 1...64, got '0'")
        #expect(mbError { _ = try Self.parse(base + "\n\nionice_class = 4\n") }?.message ==
                "/etc/mha-backup/mha-backup.cnf:7: 'ionice_class' must be a whole number in 1...3, got '4'")
    }

    @Test("relative paths and unknown enum values are errors naming file:line")
    func badValues() {
        #expect(mbError { _ = try Self.parse("[mha-backup]\nmha_conf = app.cnf\ncredentials = /b\n") }?.message ==
                "/etc/mha-backup/mha-backup.cnf:2: 'mha_conf' must be an absolute path")
        #expect(mbError { _ = try Self.parse("[mha-backup]\nmha_conf = /a\ncredentials = /b\nstate_dir = state\n") }?.message ==
                "/etc/mha-backup/mha-backup.cnf:4: 'state_dir' must be an absolute path, got 'state'")
        #expect(mbError { _ = try Self.parse("[mha-backup]\nmha_conf = /a\ncredentials = /b\n[backup]\ncompression = xz\n") }?.message ==
                "/etc/mha-backup/mha-backup.cnf:5: 'compression' has unknown value 'xz'")
    }

    @Test("unknown keys and sections warn with file:line and are ignored")
    func unknownWarns() throws {
        var warnings: [String] = []
        let text = """
            [mha-backup]
            mha_conf = /a
            credentials = /b
            colour = blue
            [backup]
            max_paralel = 4
            [extra]
            x = 1
            [host db-1]
            defaults_file = /etc/my.cnf
            """
        let c = try Self.parse(text) { warnings.append($0) }
        #expect(c.maxParallel == 2)
        #expect(warnings == [
            "/etc/mha-backup/mha-backup.cnf:4: unknown key 'colour' in [mha-backup] (ignored)",
            "/etc/mha-backup/mha-backup.cnf:6: unknown key 'max_paralel' in [backup] (ignored)",
            "/etc/mha-backup/mha-backup.cnf:7: unknown section [extra] (ignored)",
            "/etc/mha-backup/mha-backup.cnf:10: unknown key 'defaults_file' in [host db-1] (ignored)",
        ])
    }

    @Test("resolvePath: --config, then MHA_BACKUP_CONFIG, then the default")
    func resolvePath() {
        let env = ["MHA_BACKUP_CONFIG": "/env/mha-backup.cnf"]
        #expect(BackupConfig.resolvePath(explicit: "/cli/x.cnf", environment: env) == "/cli/x.cnf")
        #expect(BackupConfig.resolvePath(explicit: nil, environment: env) == "/env/mha-backup.cnf")
        #expect(BackupConfig.resolvePath(explicit: "", environment: env) == "/env/mha-backup.cnf")
        #expect(BackupConfig.resolvePath(explicit: nil, environment: [:]) == "/etc/mha-backup/mha-backup.cnf")
        #expect(BackupConfig.resolvePath(explicit: nil, environment: ["MHA_BACKUP_CONFIG": ""]) == "/etc/mha-backup/mha-backup.cnf")
        #expect(BackupConfig.defaultPath == "/etc/mha-backup/mha-backup.cnf")
    }

    @Test("load: refuses a 0644 config or credentials file, accepts 0600, reports a missing file")
    func load() throws {
        let d = try TempDir()
        defer { d.cleanup() }
        let creds = try d.write("credentials.cnf", "[client]\nuser=backup\npassword=secret\n", mode: 0o600)
        let text = "[mha-backup]\nmha_conf = /etc/mha/app.cnf\ncredentials = \(creds)\n"
        let good = try d.write("good.cnf", text, mode: 0o600)
        let c = try BackupConfig.load(good, warn: { _ in })
        #expect(c.path == good)
        #expect(c.credentials == creds)

        let open = try d.write("open.cnf", text, mode: 0o644)
        let e = mbError { _ = try BackupConfig.load(open, warn: { _ in }) }
        #expect(e?.code == .insecureFile)
        #expect(e?.message == "config file '\(open)' has mode 0644; group and others must not read it")
        _ = try BackupConfig.load(open, checkModes: false, warn: { _ in })

        let openCreds = try d.write("open-creds.cnf", "[client]\n", mode: 0o644)
        let good2 = try d.write("good2.cnf", "[mha-backup]\nmha_conf = /a\ncredentials = \(openCreds)\n", mode: 0o600)
        let e2 = mbError { _ = try BackupConfig.load(good2, warn: { _ in }) }
        #expect(e2?.code == .insecureFile)
        #expect(e2?.message.hasPrefix("credentials file '\(openCreds)' has mode 0644") == true)

        let e3 = mbError { _ = try BackupConfig.load(d.path + "/missing.cnf", warn: { _ in }) }
        #expect(e3?.code == .config)
        #expect(e3?.message == "config file '\(d.path)/missing.cnf' does not exist")
    }
}
