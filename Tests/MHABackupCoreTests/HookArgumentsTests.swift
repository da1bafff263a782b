import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// MHA 0.58's hook argv exactly as captured (/work/shared/mha-facts/hook-calls-observed.md,
/// variations-observed.md sections 1-3): one element per array entry, as the hook receives it.
enum MHAArgv {
    /// `--ssh_options` of status, stopssh and online-change calls (one argv element).
    static let alive = "-o ServerAliveInterval=60 -o ServerAliveCountMax=20 -o StrictHostKeyChecking=no -o ConnectionAttempts=5 -o PasswordAuthentication=no -o BatchMode=yes -i /var/lib/mha-lab/ssh/id_ed25519 -o UserKnownHostsFile=/var/lib/mha-lab/ssh/known_hosts -o LogLevel=ERROR"
    /// `--ssh_options` of stop and start calls.
    static let check = "-o StrictHostKeyChecking=no -o PasswordAuthentication=no -o BatchMode=yes -o ConnectTimeout=5 -i /var/lib/mha-lab/ssh/id_ed25519 -o UserKnownHostsFile=/var/lib/mha-lab/ssh/known_hosts -o LogLevel=ERROR"

    static let failoverStatus = ["--command=status", "--ssh_user=root", "--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11",
                                 "--orig_master_port=3306", "--ssh_options=\(alive)"]
    static let shutdownStatus = ["--command=status", "--ssh_user=root", "--host=127.0.0.11", "--ip=127.0.0.11", "--ssh_options=\(alive)"]
    /// Scenario A: `stop` has no --ssh_user, and --command comes fourth.
    static let failoverStop = ["--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11", "--orig_master_port=3306", "--command=stop",
                               "--ssh_options=\(check)"]
    static let shutdownStop = ["--command=stop", "--host=127.0.0.11", "--ip=127.0.0.11", "--port=3306", "--ssh_options=\(check)"]
    /// Scenario B: stopssh carries --ssh_user.
    static let failoverStopssh = ["--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11", "--orig_master_port=3306",
                                  "--command=stopssh", "--ssh_user=root", "--ssh_options=\(alive)"]
    static let shutdownStopssh = ["--command=stopssh", "--ssh_user=root", "--host=127.0.0.11", "--ip=127.0.0.11", "--port=3306",
                                  "--ssh_options=\(alive)"]
    /// `--new_master_password` always last.
    static let failoverStart = ["--command=start", "--ssh_user=root", "--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11",
                                "--orig_master_port=3306", "--new_master_host=127.0.0.12", "--new_master_ip=127.0.0.12",
                                "--new_master_port=3306", "--new_master_user=mha", "--ssh_options=\(check)", "--new_master_password=mhapass"]
    static let reportBody = """
        Master 127.0.0.11(127.0.0.11:3306) is down!

        Check MHA Manager logs at vm:/var/lib/mha-lab/mha/manager.log for details.

        Started automated(non-interactive) failover.
        Invalidated master IP address on 127.0.0.11(127.0.0.11:3306)
        Power off 127.0.0.11.
        Selected 127.0.0.12(127.0.0.12:3306) as a new master.
        Master failover to 127.0.0.12(127.0.0.12:3306) completed successfully.

        """
    static let reportSubject = "app: MySQL Master failover 127.0.0.11(127.0.0.11:3306) to 127.0.0.12(127.0.0.12:3306) succeeded"
    static let report = ["--orig_master_host=127.0.0.11", "--new_master_host=127.0.0.12", "--new_slave_hosts=127.0.0.13",
                         "--conf=/var/lib/mha-lab/mha/app.cnf", "--subject=\(reportSubject)", "--body=\(reportBody)"]
    /// A failed failover (A-ipstop-rc1 / hostile password run): no new master, empty slave list.
    static let reportFailed = ["--orig_master_host=127.0.0.11", "--new_slave_hosts=", "--conf=/var/lib/mha-lab/mha/app.cnf",
                               "--subject=app: MySQL Master failover 127.0.0.11(127.0.0.11:3306)",
                               "--body=Master 127.0.0.11(127.0.0.11:3306) is down!\n\nFailed to deactivate master IP with return code 1:0\nGot Error so couldn't continue failover from here.\n"]
    /// Scenario C2: 15 arguments, bare `--orig_master_is_new_slave`, both passwords last.
    static func onlineChange(_ command: String) -> [String] {
        ["--command=\(command)", "--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11", "--orig_master_port=3306",
         "--orig_master_user=mha", "--new_master_host=127.0.0.12", "--new_master_ip=127.0.0.12", "--new_master_port=3306",
         "--new_master_user=mha", "--orig_master_ssh_user=root", "--new_master_ssh_user=root", "--ssh_options=\(alive)",
         "--orig_master_is_new_slave", "--orig_master_password=mhapass", "--new_master_password=mhapass"]
    }
    /// SSH_PORT=2222: port options after the host options, `--new_master_ssh_port` after `--ssh_options`.
    static let failoverStatusPort = ["--command=status", "--ssh_user=root", "--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11",
                                     "--orig_master_port=3306", "--orig_master_ssh_port=2222", "--ssh_options=\(alive)"]
    static let shutdownStatusPort = ["--command=status", "--ssh_user=root", "--host=127.0.0.11", "--ip=127.0.0.11", "--ssh_port=2222",
                                     "--ssh_options=\(alive)"]
    static let failoverStopsshPort = ["--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11", "--orig_master_port=3306",
                                      "--command=stopssh", "--ssh_user=root", "--orig_master_ssh_port=2222", "--ssh_options=\(alive)"]
    static let shutdownStopsshPort = ["--command=stopssh", "--ssh_user=root", "--host=127.0.0.11", "--ip=127.0.0.11", "--port=3306",
                                      "--ssh_port=2222", "--ssh_options=\(alive)"]
    static let failoverStartPort = ["--command=start", "--ssh_user=root", "--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11",
                                    "--orig_master_port=3306", "--new_master_host=127.0.0.12", "--new_master_ip=127.0.0.12",
                                    "--new_master_port=3306", "--new_master_user=mha", "--orig_master_ssh_port=2222",
                                    "--ssh_options=\(alive)", "--new_master_ssh_port=2222", "--new_master_password=mhapass"]
    /// USE_NAMES=1: `*_host` is the configured name, `*_ip` the address MHA resolved.
    static let failoverStopsshNames = ["--orig_master_host=lab-h1", "--orig_master_ip=127.0.0.11", "--orig_master_port=3306",
                                       "--command=stopssh", "--ssh_user=root", "--ssh_options=\(alive)"]
    static let shutdownStopsshNames = ["--command=stopssh", "--ssh_user=root", "--host=lab-h1", "--ip=127.0.0.11", "--port=3306",
                                       "--ssh_options=\(alive)"]
    static let failoverStartNames = ["--command=start", "--ssh_user=root", "--orig_master_host=lab-h1", "--orig_master_ip=127.0.0.11",
                                     "--orig_master_port=3306", "--new_master_host=lab-h2", "--new_master_ip=127.0.0.12",
                                     "--new_master_port=3306", "--new_master_user=mha", "--ssh_options=\(alive)",
                                     "--new_master_password=mhapass"]
    static let reportNames = ["--orig_master_host=lab-h1", "--new_master_host=lab-h2", "--new_slave_hosts=lab-h3",
                              "--conf=/var/lib/mha-lab/mha/app.cnf",
                              "--subject=app: MySQL Master failover lab-h1(127.0.0.11:3306) to lab-h2(127.0.0.12:3306) succeeded",
                              "--body=Master lab-h1(127.0.0.11:3306) is down!\n"]
    /// The hostile password run: `p@ss'w"d$x`y;z` as MHA's escape_for_shell delivers it (18 characters).
    static let hostileEscaped = #"p@ss'w\"d\$x\`y\;z"#
    static let hostilePassword = #"p@ss'w"d$x`y;z"#

    static let all: [(String, HookKind, [String])] = [
        ("failover status", .masterIPFailover, failoverStatus), ("shutdown status", .shutdown, shutdownStatus),
        ("failover stop", .masterIPFailover, failoverStop), ("shutdown stop", .shutdown, shutdownStop),
        ("failover stopssh", .masterIPFailover, failoverStopssh), ("shutdown stopssh", .shutdown, shutdownStopssh),
        ("failover start", .masterIPFailover, failoverStart), ("report", .report, report), ("report failed", .report, reportFailed),
        ("online change stop", .masterIPOnlineChange, onlineChange("stop")),
        ("online change start", .masterIPOnlineChange, onlineChange("start")),
        ("failover status port", .masterIPFailover, failoverStatusPort), ("shutdown status port", .shutdown, shutdownStatusPort),
        ("failover stopssh port", .masterIPFailover, failoverStopsshPort), ("shutdown stopssh port", .shutdown, shutdownStopsshPort),
        ("failover start port", .masterIPFailover, failoverStartPort),
        ("failover stopssh names", .masterIPFailover, failoverStopsshNames), ("shutdown stopssh names", .shutdown, shutdownStopsshNames),
        ("failover start names", .masterIPFailover, failoverStartNames), ("report names", .report, reportNames),
    ]
}

/// A small deterministic generator (SplitMix64): a failing seed reproduces.
struct HookFuzzRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("hook arguments: MHA's argv by name")
struct HookArgumentsTests {
    func server(_ host: String, ip: String? = nil, port: Int? = nil, sshPort: Int? = nil, user: String? = nil,
                sshUser: String? = nil) -> HookServer {
        HookServer(host: host, ip: ip, port: port, sshHost: nil, sshIP: nil, sshPort: sshPort, user: user, sshUser: sshUser)
    }

    @Test("every captured argv: no unknown option, no stray argument, --ssh_options one value")
    func allCapturedArgv() {
        for (name, kind, argv) in MHAArgv.all {
            let a = HookArguments(kind: kind, argv: argv)
            #expect(a.unknown.isEmpty, "\(name): \(a.unknown)")
            #expect(a.positional.isEmpty, "\(name): \(a.positional)")
            #expect(a.raw == argv, "\(name)")
            #expect(!a.dryRun, "\(name)")
            if kind != .report {
                #expect(a["ssh_options"] == MHAArgv.alive || a["ssh_options"] == MHAArgv.check, "\(name)")
            }
        }
    }

    @Test("master_ip_failover status")
    func failoverStatus() {
        let a = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStatus)
        #expect(a.command == .status)
        #expect(a.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306, sshUser: "root"))
        #expect(a.newMaster == nil)
        #expect(a["ssh_options"] == MHAArgv.alive)
        #expect(a.newSlaveHosts.isEmpty)
    }

    @Test("shutdown_script status: --host/--ip, no port")
    func shutdownStatus() {
        let a = HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStatus)
        #expect(a.command == .status)
        #expect(a.origMaster == server("127.0.0.11", ip: "127.0.0.11", sshUser: "root"))
        #expect(a.newMaster == nil)
    }

    @Test("stop: --command fourth and no --ssh_user; shutdown stop has --port")
    func stop() {
        let f = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStop)
        #expect(f.command == .stop)
        #expect(f.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306))
        #expect(f.origMaster?.sshUser == nil)
        #expect(f["ssh_options"] == MHAArgv.check)
        let s = HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStop)
        #expect(s.command == .stop)
        #expect(s.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306))
    }

    @Test("stopssh carries --ssh_user for both hooks")
    func stopssh() {
        let f = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStopssh)
        #expect(f.command == .stopssh)
        #expect(f.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306, sshUser: "root"))
        let s = HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStopssh)
        #expect(s.command == .stopssh)
        #expect(s.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306, sshUser: "root"))
        #expect(s["ssh_user"] == "root")
    }

    @Test("start: new master complete, --new_master_password last and exact")
    func start() {
        let a = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStart)
        #expect(a.command == .start)
        #expect(a.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306, sshUser: "root"))
        #expect(a.newMaster == server("127.0.0.12", ip: "127.0.0.12", port: 3306, user: "mha", sshUser: "root"))
        #expect(a["new_master_password"] == "mhapass")
        #expect(a["ssh_options"] == MHAArgv.check)
    }

    @Test("report: subject and body exact (newlines, parentheses), slave list, --conf")
    func report() {
        let a = HookArguments(kind: .report, argv: MHAArgv.report)
        #expect(a.command == nil)
        #expect(a.origMaster == server("127.0.0.11"))
        #expect(a.newMaster == server("127.0.0.12"))
        #expect(a.newSlaveHosts == ["127.0.0.13"])
        #expect(a["conf"] == "/var/lib/mha-lab/mha/app.cnf")
        #expect(a["subject"] == MHAArgv.reportSubject)
        #expect(a["body"] == MHAArgv.reportBody)
        #expect(a["body"]?.split(separator: "\n", omittingEmptySubsequences: false).count == 10)
    }

    @Test("report of a failed failover: no new master, empty --new_slave_hosts=")
    func reportFailed() {
        let a = HookArguments(kind: .report, argv: MHAArgv.reportFailed)
        #expect(a.newMaster == nil)
        #expect(a["new_slave_hosts"] == "")
        #expect(a.has("new_slave_hosts"))
        #expect(a.newSlaveHosts == [])
        #expect(a["body"]?.hasSuffix("from here.\n") == true)
    }

    @Test("report: a subject and body with $, backticks, quotes and parentheses arrive verbatim")
    func reportHostileText() {
        // `--subject`/`--body` are double-quoted in MHA's sh -c string: whatever survives arrives as is.
        let subject = "app: failover a$b`c`(d) to 'e' \"f\" ; g | h"
        let body = "line 1 $(id) `uname`\n\tline 2 (x) [y] {z}\n\\n not a newline\n\n"
        let a = HookArguments(kind: .report, argv: ["--orig_master_host=h1", "--subject=\(subject)", "--body=\(body)",
                                                    "--new_slave_hosts=a, b,,c ,", "--new_master_host=h2"])
        #expect(a["subject"] == subject)
        #expect(a["body"] == body)
        #expect(a.newSlaveHosts == ["a", "b", "c"])
        #expect(a.unknown.isEmpty)
    }

    @Test("online change: bare --orig_master_is_new_slave, ssh users per side, both passwords")
    func onlineChange() {
        for cmd in ["stop", "start"] {
            let a = HookArguments(kind: .masterIPOnlineChange, argv: MHAArgv.onlineChange(cmd))
            #expect(a.command == HookCommand(rawValue: cmd))
            #expect(a.flags == ["orig_master_is_new_slave"])
            #expect(a.has("orig_master_is_new_slave"))
            #expect(a["orig_master_is_new_slave"] == nil)
            #expect(a.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306, user: "mha", sshUser: "root"))
            #expect(a.newMaster == server("127.0.0.12", ip: "127.0.0.12", port: 3306, user: "mha", sshUser: "root"))
            #expect(a["orig_master_password"] == "mhapass")
            #expect(a["new_master_password"] == "mhapass")
            #expect(a.unknown.isEmpty)
        }
        let noFlag = HookArguments(kind: .masterIPOnlineChange, argv: MHAArgv.onlineChange("stop").filter { $0 != "--orig_master_is_new_slave" })
        #expect(!noFlag.has("orig_master_is_new_slave"))
    }

    @Test("ssh_port=2222: port options parsed wherever they sit, default is nil (22)")
    func sshPort() {
        let st = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStatusPort)
        #expect(st.origMaster?.sshPort == 2222)
        #expect(HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStatusPort).origMaster?.sshPort == 2222)
        #expect(HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStopsshPort).origMaster?.sshPort == 2222)
        let sd = HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStopsshPort)
        #expect(sd.origMaster == server("127.0.0.11", ip: "127.0.0.11", port: 3306, sshPort: 2222, sshUser: "root"))
        let start = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStartPort)
        #expect(start.origMaster?.sshPort == 2222)
        #expect(start.newMaster == server("127.0.0.12", ip: "127.0.0.12", port: 3306, sshPort: 2222, user: "mha", sshUser: "root"))
        #expect(start["new_master_password"] == "mhapass")
        #expect(start["ssh_options"] == MHAArgv.alive)
        #expect(HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStart).newMaster?.sshPort == nil)
        #expect(HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStopssh).origMaster?.sshPort == nil)
    }

    @Test("USE_NAMES=1: host is the name, ip the address, address prefers the ip")
    func names() {
        let f = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStopsshNames)
        #expect(f.origMaster?.host == "lab-h1")
        #expect(f.origMaster?.ip == "127.0.0.11")
        #expect(f.origMaster?.address == "127.0.0.11")
        let s = HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStopsshNames)
        #expect(s.origMaster == server("lab-h1", ip: "127.0.0.11", port: 3306, sshUser: "root"))
        let st = HookArguments(kind: .masterIPFailover, argv: MHAArgv.failoverStartNames)
        #expect(st.newMaster == server("lab-h2", ip: "127.0.0.12", port: 3306, user: "mha", sshUser: "root"))
        #expect(st.newMaster?.address == "127.0.0.12")
        let r = HookArguments(kind: .report, argv: MHAArgv.reportNames)
        #expect(r.origMaster?.host == "lab-h1")
        #expect(r.origMaster?.address == "lab-h1")
        #expect(r.newMaster?.host == "lab-h2")
        #expect(r.newSlaveHosts == ["lab-h3"])
    }

    @Test("any order: every permutation parses to the same values")
    func anyOrder() {
        var rng = HookFuzzRNG(seed: 0x4D48_4131)
        for (name, kind, argv) in MHAArgv.all {
            let ref = HookArguments(kind: kind, argv: argv)
            for _ in 0..<25 {
                let shuffled = argv.shuffled(using: &rng)
                let a = HookArguments(kind: kind, argv: shuffled)
                #expect(a.values == ref.values, "\(name): \(shuffled)")
                #expect(a.flags == ref.flags, "\(name)")
                #expect(a.command == ref.command, "\(name)")
                #expect(a.origMaster == ref.origMaster, "\(name)")
                #expect(a.newMaster == ref.newMaster, "\(name)")
                #expect(a.newSlaveHosts == ref.newSlaveHosts, "\(name)")
                #expect(a.unknown.isEmpty && a.positional.isEmpty, "\(name)")
            }
        }
    }

    @Test("unknown options are kept in `unknown` (by name) and do not disturb the known ones")
    func unknownOptions() {
        let argv = MHAArgv.failoverStart + ["--orig_master_ssh_host_v2=x", "--future_flag", "--host=127.0.0.99", "--=orphan"]
        let a = HookArguments(kind: .masterIPFailover, argv: argv)
        #expect(a.unknown == ["orig_master_ssh_host_v2", "future_flag", "host", ""])
        #expect(a.newMaster?.host == "127.0.0.12")
        #expect(a.origMaster?.host == "127.0.0.11")  // --host is shutdown_script's, not ours here
        #expect(a["future_flag"] == nil && a.has("future_flag"))
        // Our own options are known for every hook.
        for kind in HookKind.allCases {
            let b = HookArguments(kind: kind, argv: ["--chain=/x", "--config=/y", "--dry-run", "--dry_run"])
            #expect(b.unknown.isEmpty, "\(kind)")
            #expect(b.dryRun)
            #expect(b["chain"] == "/x" && b["config"] == "/y")
        }
        // shutdown_script's own names are unknown to the report.
        #expect(HookArguments(kind: .report, argv: ["--host=a", "--command=stop"]).unknown == ["host", "command"])
    }

    @Test("stray elements, a bare `--` and a single dash are positional, not options")
    func positional() {
        let a = HookArguments(kind: .shutdown, argv: ["stray", "--", "-x", "--command=stop", "-", ""])
        #expect(a.positional == ["stray", "--", "-x", "-", ""])
        #expect(a.command == .stop)
        #expect(a.unknown.isEmpty)
    }

    @Test("values: the first `=` splits, empty values are values, the last repeat wins, an unknown --command is nil")
    func values() {
        let a = HookArguments(kind: .masterIPFailover, argv: [
            "--ssh_options=-o UserKnownHostsFile=/a b -o X=y=z", "--orig_master_host=", "--new_master_host=h2",
            "--new_master_host=h3", "--command=STOP", "--new_master_port=notaport", "--orig_master_port=3306",
        ])
        #expect(a["ssh_options"] == "-o UserKnownHostsFile=/a b -o X=y=z")
        #expect(a["orig_master_host"] == "")
        #expect(a.origMaster == nil)
        #expect(a.newMaster?.host == "h3")
        #expect(a.newMaster?.port == nil)
        #expect(a.command == nil)
        #expect(HookArguments(kind: .masterIPFailover, argv: ["--command="]).command == nil)
        #expect(HookArguments(kind: .masterIPFailover, argv: ["--command"]).command == nil)
        #expect(HookArguments(kind: .shutdown, argv: ["--command=stopssh", "--host=h", "--ssh_port=99999999999999999999"]).origMaster?.sshPort == nil)
    }

    @Test("--ssh_options with spaces, quotes and newlines stays one value")
    func sshOptionsOneElement() {
        let v = "-o ProxyCommand='nc %h %p' -o \"X=1\"\n-o Y=2"
        let a = HookArguments(kind: .shutdown, argv: ["--command=stopssh", "--ssh_options=\(v)", "--host=h"])
        #expect(a["ssh_options"] == v)
        #expect(a.values.count == 3)
        #expect(a.positional.isEmpty)
    }

    @Test("the first `=` by code point: a value may start with a combining mark")
    func combiningMarkValue() {
        let a = HookArguments(kind: .masterIPFailover, argv: ["--new_master_password=\u{338}pw", "--orig_master_host=\u{301}h",
                                                              "--command=start"])
        #expect(a["new_master_password"] == "\u{338}pw")
        #expect(a["orig_master_host"] == "\u{301}h")
        #expect(a.unknown.isEmpty)
        #expect(a.command == .start)
        #expect(HookArguments(kind: .shutdown, argv: ["--\u{301}x=1"]).unknown == ["\u{301}x"])
    }

    @Test("a bare password option takes the next element as its value; other bare options stay flags")
    func twoElementPassword() {
        let a = HookArguments(kind: .masterIPFailover, argv: ["--command=start", "--new_master_password", "s3 cr=t", "--orig_master_host", "h"])
        #expect(a["new_master_password"] == "s3 cr=t")
        #expect(a.flags == ["orig_master_host"])
        #expect(a.positional == ["h"])
        let b = HookArguments(kind: .masterIPFailover, argv: ["--new_master_password", "--command=start"])
        #expect(b.flags == ["new_master_password"])
        #expect(b.command == .start)
        #expect(b.positional.isEmpty)
        #expect(HookArguments(kind: .masterIPFailover, argv: ["--new_master_password"]).flags == ["new_master_password"])
    }

    @Test("dry run: --dry-run or --dry_run, as a flag or with a value")
    func dryRun() {
        #expect(HookArguments(kind: .report, argv: ["--dry-run"]).dryRun)
        #expect(HookArguments(kind: .report, argv: ["--dry_run"]).dryRun)
        #expect(HookArguments(kind: .shutdown, argv: ["--command=stop", "--dry-run=1"]).dryRun)
        #expect(!HookArguments(kind: .shutdown, argv: MHAArgv.shutdownStop).dryRun)
    }

    @Test("redacted argv keeps everything but the password values")
    func redactedProperty() {
        let a = HookArguments(kind: .masterIPOnlineChange, argv: MHAArgv.onlineChange("start"))
        var expected = MHAArgv.onlineChange("start")
        expected[13] = "--orig_master_password=xxx"
        expected[14] = "--new_master_password=xxx"
        #expect(a.redacted == expected)
    }
}

extension HookArgumentsTests {
    @Suite("redaction")
    struct RedactionTests {
        @Test("masks --new_master_password= and --orig_master_password= values")
        func masksPasswordOptions() {
            #expect(Redaction.redact(["--new_master_password=mhapass"]) == ["--new_master_password=xxx"])
            #expect(Redaction.redact(["--orig_master_password=\(MHAArgv.hostileEscaped)"]) == ["--orig_master_password=xxx"])
            #expect(Redaction.redact(["--new_master_password="]) == ["--new_master_password=xxx"])
            #expect(Redaction.redact(["--new_master_password=a=b c"]) == ["--new_master_password=xxx"])
            #expect(Redaction.redact(["--NEW_MASTER_PASSWORD=x", "--repl_password=y", "--passwd=z", "-password=w"])
                    == ["--NEW_MASTER_PASSWORD=xxx", "--repl_password=xxx", "--passwd=xxx", "-password=xxx"])
            var start = MHAArgv.failoverStart
            start[start.count - 1] = "--new_master_password=xxx"
            #expect(Redaction.redact(MHAArgv.failoverStart) == start)
        }

        @Test("masks the value after a bare --password (two elements)")
        func masksTwoElementForm() {
            #expect(Redaction.redact(["--password", "s3cret", "--command=stop"]) == ["--password", "xxx", "--command=stop"])
            #expect(Redaction.redact(["--new_master_password", "s3cret"]) == ["--new_master_password", "xxx"])
            // A trailing bare option has nothing to mask.
            #expect(Redaction.redact(["--command=stop", "--password"]) == ["--command=stop", "--password"])
        }

        @Test("a password value that starts with a combining mark is masked (the `=` is found by code point)")
        func combiningMark() {
            #expect(Redaction.redact(["--new_master_password=\u{338}pw", "--next=1"]) == ["--new_master_password=xxx", "--next=1"])
            #expect(Redaction.redact(["--orig_master_password=\u{301}pw"]) == ["--orig_master_password=xxx"])
        }

        @Test("never masks other values")
        func leavesOthers() {
            for (_, _, argv) in MHAArgv.all where !argv.contains(where: { $0.contains("_password=") }) {
                #expect(Redaction.redact(argv) == argv)
            }
            // PasswordAuthentication inside --ssh_options is a value of ssh_options, not a password.
            let other = ["--ssh_options=-o PasswordAuthentication=no", "--subject=password=x in a subject", "--new_master_user=mha",
                         "--orig_master_is_new_slave", "stray", "--body=--password"]
            #expect(Redaction.redact(other) == other)
            #expect(Redaction.redact([]) == [])
        }

        @Test("text: given secrets and password=... fragments are masked")
        func text() {
            #expect(Redaction.redact(text: "connect failed for mhapass@h", secrets: ["mhapass"]) == "connect failed for xxx@h")
            #expect(Redaction.redact(text: "a \(MHAArgv.hostileEscaped) b \(MHAArgv.hostilePassword) c",
                                     secrets: [MHAArgv.hostileEscaped, MHAArgv.hostilePassword]) == "a xxx b xxx c")
            #expect(Redaction.redact(text: "mysql --password=abc -h x") == "mysql --password=xxx -h x")
            #expect(Redaction.redact(text: "MASTER_PASSWORD='a b', MASTER_USER='r'") == "MASTER_PASSWORD=xxx, MASTER_USER='r'")
            #expect(Redaction.redact(text: "passwd: \"q w\" end") == "passwd: xxx end")
            #expect(Redaction.redact(text: "new_master_password=s3 tail") == "new_master_password=xxx tail")
            let plain = "stop mysqld 127.0.0.11: ok — killed (user mha)"
            #expect(Redaction.redact(text: plain, secrets: ["mhapass"]) == plain)
        }
    }

    @Suite("MHA shell unescape")
    struct MHAShellTests {
        @Test("undoes escape_for_shell on the hostile password (variations-observed.md section 3)")
        func hostile() {
            #expect(MHAArgv.hostileEscaped.count == 18)
            #expect(MHAShell.unescape(MHAArgv.hostileEscaped) == MHAArgv.hostilePassword)
        }

        /// Received value -> MHA::NodeUtil::unescape_for_shell's result, computed with MHA 0.58's own
        /// NodeUtil.pm on this box (escape_for_shell, sh -c, unescape_for_shell).
        @Test("matches NodeUtil.pm's unescape_for_shell, backslashes it does not touch stay")
        func matchesPerl() {
            let table: [(String, String)] = [
                (#"x\(y\)\[z\]\{w\}"#, "x(y)[z]{w}"),
                (#"a\ b\,c\~d\^e"#, "a b,c~d^e"),
                (##"\!\#\&\|\*\?\<\>"##, "!#&|*?<>"),
                (#"a\\b"#, #"a\\b"#),          // password a\b: escape_for_shell doubles it, nothing undoes that
                (#"a\\\$b"#, #"a\\$b"#),        // password a\$b
                (#"end\\"#, #"end\\"#),         // password end\
                (#"é€\\n"#, #"é€\\n"#),
                ("tab\tx", "tab\tx"),
                ("nl\nx", "nl\nx"),
            ]
            for (recv, want) in table {
                #expect(MHAShell.unescape(recv) == want, "\(recv)")
            }
        }

        @Test("other backslashes are left alone")
        func otherBackslashes() {
            for s in [#"a\b"#, #"\n\t"#, #"C:\dir\file"#, #"trailing\"#, #"\"#, #"\'"#, #"\%\@\-"#, "plain", ""] {
                #expect(MHAShell.unescape(s) == s, "\(s)")
            }
        }
    }
}
