import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("SSHTarget argv")
struct SSHTargetTests {
    static func fixture() throws -> (MHAServer, BackupConfig) {
        let app = try MHAAppConfig.parse(try INIFile.parse(MHAAppConfigTests.appCnf, path: "app.cnf", inlineComments: false))
        let cfg = try BackupConfig.parse(try INIFile.parse(BackupConfigTests.full, path: "b.cnf", inlineComments: true))
        return (try #require(app.server(named: "server2")), cfg)
    }

    @Test("exact argv: BatchMode, ConnectTimeout, keepalives, identity, known_hosts, MHA's then our options, port, -T, user@host, --, script")
    func exactArgv() throws {
        let (server, cfg) = try Self.fixture()
        let t = try SSHTarget(server: server, config: cfg)
        let remote = RemoteCommand(["mariabackup", "--backup", "--target-dir=/data/tmp/mha backup"])
        #expect(t.argv(remote) == [
            "ssh",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=7", "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
            "-i", "/root/.ssh/id_backup",
            "-o", "UserKnownHostsFile=/etc/mha-backup/known_hosts", "-o", "StrictHostKeyChecking=accept-new",
            "-i", "/var/lib/mha-lab/ssh/id", "-o", "UserKnownHostsFile=/var/lib/mha-lab/ssh/known_hosts",
            "-o", "Compression=no", "-o", "IPQoS=throughput",
            "-p", "2222", "-T", "root@127.0.0.12",
            "--", "mariabackup --backup '--target-dir=/data/tmp/mha backup'",
        ])
        #expect(t.command(remote).argv == t.argv(remote))
    }

    @Test("defaults: ConnectTimeout=5, BatchMode, and the remote script is ONE last element after --")
    func scriptIsOneElement() throws {
        let cfg = try BackupConfig.parse(try INIFile.parse("[mha-backup]\nmha_conf = /a\ncredentials = /b\n",
                                                            path: "b.cnf", inlineComments: true))
        let app = try MHAAppConfig.parse(try INIFile.parse("[server1]\nhostname=127.0.0.11\n", path: "a", inlineComments: false))
        let t = try SSHTarget(server: try #require(app.servers.first), config: cfg)
        let hostile = RemoteCommand.pipeline([["printf", "%s\n", "$(touch /tmp/pwned)", ";rm -rf /", "'", "a\nb"], ["cat"]])
        let argv = t.argv(hostile)
        #expect(argv.contains("ConnectTimeout=5"))
        #expect(argv.contains("BatchMode=yes"))
        #expect(argv[argv.count - 3] == "root@127.0.0.11")
        #expect(argv[argv.count - 2] == "--")
        #expect(argv.last == hostile.script)
        #expect(argv.filter { $0 == "--" }.count == 1)
        #expect(Array(argv.prefix(3)) == ["ssh", "-o", "BatchMode=yes"])
        #expect(argv.firstIndex(of: "-p").map { argv[$0 + 1] } == "22")
    }

    @Test("an unsafe ssh host or user from app.cnf is refused before any ssh runs")
    func unsafeHost() throws {
        let (server, cfg) = try Self.fixture()
        var bad = server
        bad.sshHost = "-oProxyCommand=touch /tmp/pwned"
        let e = mbError { _ = try SSHTarget(server: bad, config: cfg) }
        #expect(e?.code == .usage)
        #expect(e?.message == "ssh host of [server2] '-oProxyCommand=touch /tmp/pwned' is not a valid host name or address")
        var badUser = server
        badUser.sshUser = "root@evil"
        #expect(mbError { _ = try SSHTarget(server: badUser, config: cfg) }?.message ==
                "ssh_user of [server2] 'root@evil' is not a valid user name")
    }
}

@Suite("RemoteCommand scripts")
struct RemoteCommandTests {
    @Test("the fixed operators join quoted argv")
    func shapes() {
        let a = ["mariabackup", "--backup", "--target-dir=/var/tmp/x y"]
        let b = ["zstd", "-q", "-c"]
        #expect(RemoteCommand(a).script == "mariabackup --backup '--target-dir=/var/tmp/x y'")
        #expect(RemoteCommand.pipeline([a, b]).script == "mariabackup --backup '--target-dir=/var/tmp/x y' | zstd -q -c")
        #expect(RemoteCommand.pipelineReportingFirst([a, b]).script ==
                "{ mariabackup --backup '--target-dir=/var/tmp/x y'; echo MHA_BACKUP_RC=$? >&2; } | zstd -q -c")
        #expect(RemoteCommand.and(RemoteCommand(["mkdir", "-p", "/x"]), RemoteCommand(b)).script == "mkdir -p /x && zstd -q -c")
        #expect(RemoteCommand(["ls"]).reportingPid().script == "echo MHA_BACKUP_REMOTE_PID=$$ >&2; ls")
        #expect(RemoteCommand(["ls"]).description == "ls")
    }

    @Test("hostile values are single-quoted, nothing else")
    func hostileQuoting() {
        #expect(ShellQuote.quote("$(touch /tmp/pwned)") == "'$(touch /tmp/pwned)'")
        #expect(ShellQuote.quote(";rm -rf /") == "';rm -rf /'")
        #expect(ShellQuote.quote("'") == "''\\'''")
        #expect(ShellQuote.quote("a\nb") == "'a\nb'")
        #expect(ShellQuote.quote("`id`") == "'`id`'")
        #expect(ShellQuote.quote("-n") == "-n")
        #expect(ShellQuote.join(["printf", "%s\n", "x y", ""]) == "printf '%s\n' 'x y' ''")
    }

    /// Values that would run something, split, or expand if a shell saw them unquoted. The canaries
    /// use only shell builtins (`:` and a redirect), so a quoting failure shows up as a file even
    /// though the test shell runs with an empty PATH (which keeps `touch`/`rm` from ever running).
    static func hostileValues(canaryDir d: String) -> [String] {
        [
            "$(touch /tmp/pwned)",
            ";rm -rf /",
            "'",
            "it's",
            "line1\nline2",
            "$(: > \(d)/c1)",
            "`: > \(d)/c2`",
            "; : > \(d)/c3",
            "| : > \(d)/c4",
            "&& : > \(d)/c5 &",
            "> \(d)/c6",
            "\"double\" \\back\\slash $HOME ${PATH} * ~ ? [a] {x,y}",
            "",
            "  leading and trailing  ",
            "tab\there",
            "-n",
            "--",
            "%s%d\\n",
            "ünïcödé ✓",
        ]
    }

    static func sh(_ script: String) throws -> PipelineResult {
        var cmd = Command(["/bin/sh", "-c", script], environment: ["PATH": "/nonexistent-mhab-empty-path"])
        cmd.clearEnvironment = true
        return try ProcessRunner().run(cmd, timeout: 10)
    }

    @Test("a real /bin/sh gets every hostile value back byte-for-byte and runs none of them")
    func throughRealShell() throws {
        let d = try TempDir()
        defer { d.cleanup() }
        let pwnedBefore = FileManager.default.fileExists(atPath: "/tmp/pwned")
        let values = Self.hostileValues(canaryDir: d.path)
        let expected = Data(values.map { $0 + "\n" }.joined().utf8)

        // One command, as ssh would hand it to the remote user's shell.
        let one = try Self.sh(RemoteCommand(["printf", "%s\n"] + values).script)
        #expect(one.succeeded, "\(one.failureSummary)")
        #expect(one.stdout == expected)

        // A pipeline whose first stage's status comes back on stderr.
        let piped = try Self.sh(RemoteCommand.pipelineReportingFirst([["printf", "%s\n"] + values, ["/bin/cat"]]).script)
        #expect(piped.succeeded, "\(piped.failureSummary)")
        #expect(piped.stdout == expected)
        #expect(piped.stages[0].stderr == "MHA_BACKUP_RC=0\n")

        // `a && b`, and the pid report in front.
        let both = try Self.sh(RemoteCommand.and(RemoteCommand(["printf", "%s\n", values[0]]),
                                                 RemoteCommand(["printf", "%s\n", values[1]])).reportingPid().script)
        #expect(both.stdout == Data("$(touch /tmp/pwned)\n;rm -rf /\n".utf8))
        #expect(both.stages[0].stderr.range(of: #"^MHA_BACKUP_REMOTE_PID=[0-9]+\n$"#, options: .regularExpression) != nil)

        // Nothing was created by any value.
        let made = try FileManager.default.contentsOfDirectory(atPath: d.path)
        #expect(made == [])
        if !pwnedBefore { #expect(!FileManager.default.fileExists(atPath: "/tmp/pwned")) }
    }

    @Test("the first stage's failure is reported even though the pipeline's status is the last stage's")
    func firstStageFailure() throws {
        let r = try Self.sh(RemoteCommand.pipelineReportingFirst([["false"], ["/bin/cat"]]).script)
        #expect(r.stages[0].exitCode == 0)
        #expect(r.stages[0].stderr == "MHA_BACKUP_RC=1\n")
    }
}

@Suite("HostName")
struct HostNameTests {
    @Test("rejects names that could become options, paths or shell syntax")
    func rejects() {
        for bad in ["../x", "-oProxyCommand=x", "a b", "a;b", "$(x)", "", ".hidden", "a/b", "a..b", "host\n",
                    "`id`", "a|b", "h'1", "x\u{0}y", String(repeating: "a", count: 254)] {
            #expect(!HostName.isValid(bad), "\(bad.debugDescription)")
        }
    }

    @Test("accepts addresses and DNS names")
    func accepts() {
        for good in ["127.0.0.11", "db-1.example.com", "lab-h1", "db_1", "fe80::1", "DB1", String(repeating: "a", count: 253)] {
            #expect(HostName.isValid(good), "\(good)")
        }
    }

    @Test("validate and validateUser throw .usage naming the value")
    func validate() throws {
        let e = mbError { try HostName.validate("../x", what: "host") }
        #expect(e?.code == .usage)
        #expect(e?.message == "host '../x' is not a valid host name or address")
        try HostName.validate("lab-h1", what: "host")
        try HostName.validateUser("root", what: "ssh_user")
        try HostName.validateUser("deploy.user_1", what: "ssh_user")
        for bad in ["", "-oX", "ro ot", "a;b", "root@host", "a/b"] {
            #expect(mbError { try HostName.validateUser(bad, what: "ssh_user") }?.code == .usage, "\(bad)")
        }
    }

    @Test("folderName never contains '/' and refuses what isValid refuses")
    func folderName() throws {
        #expect(try HostName.folderName(host: "127.0.0.11", port: 3306) == "127.0.0.11_3306")
        #expect(try HostName.folderName(host: "fe80::1", port: 3307) == "fe80__1_3307")
        #expect(try HostName.folderName(host: "db-1.example.com", port: 3306) == "db-1.example.com_3306")
        for h in ["127.0.0.11", "db-1.example.com", "lab-h1", "fe80::1", "a.b.c"] {
            let f = try HostName.folderName(host: h, port: 3306)
            #expect(!f.contains("/") && f != "." && f != ".." && !f.hasPrefix("-"), "\(f)")
        }
        for bad in ["../x", "a/b", "/etc", "..", "-x"] {
            #expect(mbError { _ = try HostName.folderName(host: bad, port: 3306) }?.code == .usage, "\(bad)")
        }
    }
}

@Suite("SSHMux: the kept connection's names and options")
struct SSHMuxTests {
    let t = SSHTarget(user: "root", host: "db-master-01.example.com", port: 2222, options: ["-o", "ServerAliveInterval=60", "-i", "/k"])

    @Test("one short socket per user, host and port, inside state_dir/ssh-mux")
    func socket() {
        let m = SSHMux(stateDir: "/var/lib/mha-backup/app1/state")
        let s = m.socket(for: t)
        #expect(s.hasPrefix("/var/lib/mha-backup/app1/state/ssh-mux/"))
        #expect(s.utf8.count + 17 < 108, "sun_path: \(s)")
        #expect(s != m.socket(for: SSHTarget(user: "root", host: t.host, port: 22, options: [])))
        #expect(s == m.socket(for: SSHTarget(user: "root", host: t.host, port: 2222, options: ["-v"])), "options do not name the socket")
    }

    @Test("a client never becomes a master; the master's keep-alive options come before the site's (ssh keeps the first)")
    func options() {
        let m = SSHMux(stateDir: "/s")
        #expect(m.clientOptions(for: t) == ["-o", "ControlPath=\(m.socket(for: t))", "-o", "ControlMaster=no"])
        let a = m.masterArgv(for: t)
        let ours = a.firstIndex(of: "ServerAliveInterval=2")!, theirs = a.firstIndex(of: "ServerAliveInterval=60")!
        #expect(ours < theirs)
        #expect(a.contains("ControlPersist=yes") && a.contains("-N"))
        #expect(Array(a.suffix(3)) == ["-p", "2222", "root@db-master-01.example.com"])
    }
}
