import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// A private folder (mode 0700) with an MHA app.cnf whose servers are 127.0.0.250 and 127.0.0.251
/// (nothing listens there) and an mha-backup.cnf whose state and store live inside it. Runs the
/// BUILT hook executables against it, the way MHA does: argv only, stdin /dev/null, our config
/// as `--config=PATH` and as MHA_BACKUP_CONFIG.
fileprivate final class HookLab: @unchecked Sendable {
    static let executables: [HookKind: String] = [
        .masterIPFailover: "mha-backup-master-ip-failover", .shutdown: "mha-backup-shutdown",
        .report: "mha-backup-report", .masterIPOnlineChange: "mha-backup-master-ip-online-change",
    ]
    /// The only addresses any hook may be pointed at.
    static let servers = ["127.0.0.250", "127.0.0.251"]
    /// Marks every path a hostile value names, so a check finds exactly ours.
    static let tag = "hookfuzz-\(getpid())"

    /// The build folder: beside the test bundle, else `<repo>/.build/debug`.
    static let binDir: String? = {
        let fm = FileManager.default
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let dirs = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path, repo + "/.build/debug"]
        return dirs.first { d in (Array(executables.values) + ["mha-backup"]).allSatisfy { fm.isExecutableFile(atPath: "\(d)/\($0)") } }
    }()

    let root: String
    let config: String
    let stateDir: String
    let storeDir: String
    let managerWorkdir: String
    /// The hooks' working folder: `../../../../x` from here is `/x`.
    let cwd: String
    let bin: String
    let escapeExistedBefore: Bool

    init(writeConfig: Bool = true) throws {
        bin = try #require(Self.binDir, "hook executables not built: run `swift build --build-tests` first")
        // /tmp itself (not TMPDIR): the escape checks count on `../../../../x` from `cwd` being `/x`.
        root = "/tmp/mhab-hookfuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        config = root + "/mha-backup.cnf"
        stateDir = root + "/state"
        storeDir = root + "/store"
        managerWorkdir = root + "/mha"
        cwd = root + "/w/x"
        escapeExistedBefore = FileManager.default.fileExists(atPath: "/tmp/escape")
        for d in [cwd, managerWorkdir, root + "/chains", root + "/home"] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        guard writeConfig else { return }
        try write("app.cnf", """
            [server default]
            user=mha
            ssh_user=root
            manager_workdir=\(managerWorkdir)
            remote_workdir=\(root)/remote
            master_binlog_dir=\(root)/remote-binlogs

            [server1]
            hostname=127.0.0.250
            port=3306

            [server2]
            hostname=127.0.0.251
            port=3306
            candidate_master=1

            """, mode: 0o600)
        try write("client.cnf", "[client]\nuser=mha\npassword=not-used-here\n", mode: 0o600)
        try write("mha-backup.cnf", """
            [mha-backup]
            mha_conf = \(root)/app.cnf
            credentials = \(root)/client.cnf
            state_dir = \(stateDir)
            store_dir = \(storeDir)

            [ssh]
            connect_timeout = 1
            known_hosts = \(root)/known_hosts

            [client]
            timeout = 2

            [hooks]
            critical_path_seconds = 1
            salvage_wait = 2
            foreign_lock_watch_seconds = 3

            """, mode: 0o600)
    }

    @discardableResult
    func write(_ name: String, _ text: String, mode: Int) throws -> String {
        let p = root + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: p)
        return p
    }

    /// A site script that saves its parent's (the hook's) /proc cmdline, as `ps` shows it.
    func cmdlineSpy() throws -> (script: String, output: String) {
        let name = "chains/spy-\(UUID().uuidString.prefix(8))"
        let out = "\(root)/\(name).cmdline"
        return (try write(name, "#!/bin/sh\ncat /proc/$PPID/cmdline > '\(out)'\nexit 0\n", mode: 0o700), out)
    }

    /// A site script for `--chain=`: records its argv (NUL-terminated elements) when `record` is
    /// set, then exits with `code`.
    func chainScript(exitCode code: Int32, record: Bool = false) throws -> (script: String, output: String) {
        let name = "chains/chain-\(code)-\(UUID().uuidString.prefix(8))"
        let out = "\(root)/\(name).argv"
        let body = record ? "printf '%s\\0' \"$@\" > '\(out)'\n" : ""
        return (try write(name, "#!/bin/sh\n\(body)exit \(code)\n", mode: 0o700), out)
    }

    static func readArgv(_ path: String) -> [String]? {
        guard let d = FileManager.default.contents(atPath: path) else { return nil }
        return d.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    struct Run: CustomStringConvertible {
        var kind: HookKind
        var argv: [String]
        var code: Int32?
        var signal: Int32?
        var timedOut: Bool
        var stdout: String
        var stderr: String
        var duration: TimeInterval

        var output: String { stdout + stderr }
        /// What a failing expectation prints: enough to rerun it by hand (huge values shortened).
        var description: String {
            let shown = argv.map { $0.count > 200 ? "\($0.prefix(60))…(\($0.count) chars)" : $0 }
            return "\(HookLab.executables[kind]!) \(shown.map(ShellQuote.quote).joined(separator: " "))\n"
                + "=> exit \(code.map(String.init) ?? "-") signal \(signal.map(String.init) ?? "-")\(timedOut ? " TIMED OUT" : "")"
                + " in \(String(format: "%.2f", duration)) s\nstderr: \(stderr.prefix(2000))"
        }
    }

    /// Runs one hook. `useConfig` adds `--config=` and MHA_BACKUP_CONFIG (at a random-looking but
    /// fixed place: last, as an app.cnf line would).
    func run(_ kind: HookKind, _ argv: [String], useConfig: Bool = true, configPath: String? = nil,
             environment extra: [String: String] = [:], timeout: TimeInterval = 30) throws -> Run {
        let path = configPath ?? config
        let full = useConfig ? argv + ["--config=\(path)"] : argv
        var cmd = Command(["\(bin)/\(Self.executables[kind]!)"] + full)
        cmd.clearEnvironment = true
        // The manager's environment, as MHA passes it on; nothing of the test runner's.
        cmd.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
                           "HOME": root + "/home", "LANG": "C.UTF-8"]
        if useConfig { cmd.environment["MHA_BACKUP_CONFIG"] = path }
        for (k, v) in extra { cmd.environment[k] = v }
        var o = RunOptions(timeout: timeout)
        o.stdout = .capture(limit: 16 << 20)
        o.stderrLimit = 16 << 20
        o.workingDirectory = cwd
        let r = try ProcessRunner().runPipeline([cmd], options: o)
        return Run(kind: kind, argv: full, code: r.stages[0].exitCode, signal: r.stages[0].signal, timedOut: r.timedOut,
                   stdout: r.stdoutString, stderr: r.stages[0].stderr, duration: r.duration)
    }

    /// Live processes (not zombies) whose command line names this folder: detached workers, the
    /// backups they start, their ssh and mariadb clients.
    func processes() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { e -> Int32? in
            guard let pid = Int32(e), pid != getpid(), let raw = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { return nil }
            let s = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            guard s.contains(root), !ProcessRunner.isZombieOrGone(pid) else { return nil }
            return pid
        }
    }

    /// Waits for everything the hooks left running to end; kills what is still there after
    /// `limit` seconds and returns those pids (with their command lines).
    @discardableResult
    func waitForWorkers(limit: TimeInterval = 30) -> [String] {
        let end = Date().addingTimeInterval(limit)
        while Date() < end {
            if processes().isEmpty { return [] }
            usleep(100_000)
        }
        var killed: [String] = []
        for p in processes() {
            let cmdline = FileManager.default.contents(atPath: "/proc/\(p)/cmdline").map {
                String(decoding: $0.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            } ?? "?"
            kill(-p, SIGKILL)
            kill(p, SIGKILL)
            killed.append("\(p): \(cmdline)")
        }
        return killed
    }

    /// Entries of /tmp that a hostile value of ours names.
    func pwned() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.contains(Self.tag) }
            + (!escapeExistedBefore && FileManager.default.fileExists(atPath: "/tmp/escape") ? ["escape"] : [])
    }

    /// Every path below the folder (depth first), relative to it.
    func walk() -> [String] {
        FileManager.default.enumerator(atPath: root)?.allObjects.compactMap { $0 as? String } ?? []
    }

    /// Files below the folder (the site's chain records excepted) that contain `needle`.
    func files(containing needle: String) -> [String] {
        let n = Data(needle.utf8)
        return walk().filter { rel in
            guard !rel.hasPrefix("chains/") else { return false }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(root)/\(rel)", isDirectory: &isDir), !isDir.boolValue,
                  let d = FileManager.default.contents(atPath: "\(root)/\(rel)") else { return false }
            return d.range(of: n) != nil
        }
    }

    /// What the hooks created where they must not: anything outside the folder that a hostile
    /// value names, anything in the working folder, unexpected top-level entries, links out, and
    /// archive folders that are not one of app.cnf's servers.
    func escapes() -> [String] {
        let fm = FileManager.default
        var bad: [String] = []
        let tmp = (try? fm.contentsOfDirectory(atPath: "/tmp")) ?? []
        bad += tmp.filter { $0.contains(Self.tag) }.map { "/tmp/\($0)" }
        if !escapeExistedBefore && fm.fileExists(atPath: "/tmp/escape") { bad.append("/tmp/escape") }
        for p in ["/tmp/tmp/escape", "/etc/mhab-\(Self.tag)", "/escape", "/tmp/\(Self.tag)"] where fm.fileExists(atPath: p) { bad.append(p) }
        let cwdEntries = (try? fm.contentsOfDirectory(atPath: cwd)) ?? ["<working folder gone>"]
        bad += cwdEntries.map { "\(cwd)/\($0)" }
        let allowed: Set<String> = ["app.cnf", "client.cnf", "mha-backup.cnf", "state", "store", "w", "mha", "chains", "home",
                                    "known_hosts", "missing.cnf"]
        bad += ((try? fm.contentsOfDirectory(atPath: root)) ?? []).filter { !allowed.contains($0) }.map { "\(root)/\($0) (unexpected)" }
        let real = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        for rel in walk() {
            let p = URL(fileURLWithPath: "\(root)/\(rel)").resolvingSymlinksInPath().path
            if !p.hasPrefix(real + "/") { bad.append("\(root)/\(rel) -> \(p)") }
        }
        let folders = Set(Self.servers.map { "\($0)_3306" })
        for e in (try? fm.contentsOfDirectory(atPath: storeDir + "/binlogs")) ?? [] {
            if e.contains("/") || e.contains("..") || (!folders.contains(e) && !e.hasPrefix(".")) {
                bad.append("\(storeDir)/binlogs/\(e)")
            }
        }
        return bad
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }
}

/// Values MHA could never send but a broken or hostile caller might. Every path they name carries
/// `HookLab.tag`, except the literal ones the checks look for (`/tmp/escape`).
fileprivate enum Hostile {
    static let t = HookLab.tag
    static let huge = String(repeating: "A;$(x)`y`'\"\n", count: 100_000 / 12 + 1)  // 100,008 characters

    /// For host-like keys: each is one of our two servers or something HostName.isValid refuses,
    /// so no hook can be steered to another address.
    static let hosts: [String] = [
        "127.0.0.250", "127.0.0.251", "127.0.0.250", "a;touch /tmp/pwned-\(t)-h1", "$(id)", "$(touch /tmp/pwned-\(t)-h2)",
        "`touch /tmp/pwned-\(t)-h3`", "../../../../tmp/escape", "../../../../tmp/escape-\(t)", "-oProxyCommand=touch /tmp/pwned-\(t)-h4",
        "..", "/", "h/../../x", "127.0.0.250;id", "127.0.0.250\n", " 127.0.0.250", "127.0.0.250/../../../etc", "", "é", "\u{202E}052.0.0.721",
        "'", "\"", "a b", "127.0.0.250 -oProxyCommand=touch /tmp/pwned-\(t)-h5", "../../etc", "-", "-127.0.0.250", ".127.0.0.250",
        "127.0.0.250\u{301}", "😀", "\u{FEFF}127.0.0.250",
    ]
    /// `--ssh_options` reaches ssh word by word (as MHA's own ssh gets it): nothing here may be a
    /// usable destination or option that reaches a host.
    static let sshOptions: [String] = [
        MHAArgv.alive.replacingOccurrences(of: "/var/lib/mha-lab/ssh", with: "/nonexistent-\(t)"),
        MHAArgv.check.replacingOccurrences(of: "/var/lib/mha-lab/ssh", with: "/nonexistent-\(t)"),
        "", "-oProxyCommand=touch /tmp/pwned-\(t)-s1", "$(touch /tmp/pwned-\(t)-s2)", "`touch /tmp/pwned-\(t)-s3`",
        "a;touch /tmp/pwned-\(t)-s4", "-o ConnectTimeout=1 ; touch /tmp/pwned-\(t)-s5", "'", "\"", "../../../../tmp/escape",
        "-o\nProxyCommand=touch /tmp/pwned-\(t)-s6", "é ü", "$(id)",
    ]
    static let values: [String] = [
        "'", "\"", "$(touch /tmp/pwned-\(t)-1)", "`touch /tmp/pwned-\(t)-2`", ";", "a;touch /tmp/pwned-\(t)-3", "x\ny", "\n",
        "../../etc", "../../etc/mhab-\(t)", "../../../../tmp/escape", "-oProxyCommand=touch /tmp/pwned-\(t)-4", "$(id)", "", " ",
        "é", "\u{202E}", "😀", "a\u{301}", "\u{338}x", "=\u{338}", "Ω≈ç√∫", "\u{FEFF}", "\u{2028}", "İ", "\u{10FFFF}", "\u{1F1EB}\u{1F1F7}",
        "\\", "\\\\x", "%s%n%x", "0", "-1", "99999999999999999999", "3306", "--command=stop", "=", "==", "x=y", "\t", "*", "~root",
        "${IFS}", "|touch /tmp/pwned-\(t)-5", "&& touch /tmp/pwned-\(t)-6", "> /tmp/pwned-\(t)-7", "\u{0007}\u{001B}[31m",
    ]
    static let commands: [String?] = ["bogus", "", "STOP", "stop;touch /tmp/pwned-\(t)-c1", "$(touch /tmp/pwned-\(t)-c2)",
                                      "start\n", "status ", "é", nil]
    static let unknownKeys = ["future_option", "orig_master_ssh_host_v2", "x", "", "ключ", "new_slave_hosts", "subject", "body",
                              "pid_file", "port", "orig_master_port", "new_master_port", "ssh_port", "orig_master_ssh_port",
                              "orig_master_is_new_slave", "ssh_user", "new_master_user", "orig_master_user", "conf",
                              "new_master_ssh_user", "a\u{301}", "--", "-", "password_hint_is_not_a_secret_value"]
    static let hostKeys: Set<String> = ["host", "ip", "ssh_host", "ssh_ip", "orig_master_host", "orig_master_ip", "orig_master_ssh_host",
                                        "orig_master_ssh_ip", "new_master_host", "new_master_ip", "new_master_ssh_host", "new_master_ssh_ip"]
    static let ownKeys: Set<String> = ["chain", "config", "dry-run", "dry_run"]

    /// True when no hook can turn this into a connection to anything but our two servers.
    static func safeHost(_ s: String) -> Bool { HookLab.servers.contains(s) || !HostName.isValid(s) }

    /// The generator's own guard, checked with the hooks' parser before every run.
    static func argvIsSafe(_ kind: HookKind, _ argv: [String]) -> Bool {
        let a = HookArguments(kind: kind, argv: argv)
        return a.values.allSatisfy { k, v in
            if hostKeys.contains(k) { return safeHost(v) }
            if k == "ssh_options" { return sshOptions.contains(v) || v.isEmpty }
            return true
        }
    }
}

/// One generated hook call: what is passed and what must come back.
fileprivate struct FuzzCase {
    var kind: HookKind
    /// The --command the case was built for (`unknown`: a hostile or missing one).
    var command = ""
    var argv: [String]
    var dryRun: Bool
    var dryRunByEnv: Bool
    var chainCode: Int32?
    var passwords: [String]
}

/// Builds MHA-like argv for a kind and command, then mutates it with a seeded generator.
fileprivate struct HookFuzzer {
    var rng: HookFuzzRNG
    let lab: HookLab
    let lane: Int
    let chains: [Int32: String]

    static let commands = ["status", "stop", "stopssh", "start", "unknown"]

    /// MHA's real argv for this call, re-pointed at the lab (servers, app.cnf, no lab ssh files).
    func template(_ kind: HookKind, _ command: String) -> [String] {
        let base: [String]
        switch (kind, command) {
        case (.masterIPFailover, "status"): base = MHAArgv.failoverStatusPort
        case (.masterIPFailover, "stop"): base = MHAArgv.failoverStop
        case (.masterIPFailover, "stopssh"): base = MHAArgv.failoverStopssh
        case (.masterIPFailover, _): base = MHAArgv.failoverStartPort
        case (.shutdown, "status"): base = MHAArgv.shutdownStatus
        case (.shutdown, "stopssh"): base = MHAArgv.shutdownStopsshPort
        case (.shutdown, _): base = MHAArgv.shutdownStop.map { $0 == "--command=stop" ? "--command=\(command)" : $0 }
        case (.report, "stop"), (.report, "stopssh"): base = MHAArgv.reportFailed
        case (.report, _): base = MHAArgv.report
        case (.masterIPOnlineChange, _): base = MHAArgv.onlineChange(command)
        }
        return base.map {
            $0.replacingOccurrences(of: "127.0.0.11", with: "127.0.0.250").replacingOccurrences(of: "127.0.0.12", with: "127.0.0.251")
                .replacingOccurrences(of: "127.0.0.13", with: "127.0.0.251")
                .replacingOccurrences(of: "/var/lib/mha-lab/mha/app.cnf", with: "\(lab.root)/app.cnf")
                .replacingOccurrences(of: "/var/lib/mha-lab/ssh", with: "/nonexistent-\(HookLab.tag)")
        }
    }

    mutating func pick<T>(_ a: [T]) -> T { a.randomElement(using: &rng)! }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    static func key(of element: String) -> String? {
        guard element.hasPrefix("--") else { return nil }
        return element.dropFirst(2).split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
    }

    mutating func value(for key: String?) -> String {
        if let key, Hostile.hostKeys.contains(key) { return pick(Hostile.hosts) }
        if key == "ssh_options" { return pick(Hostile.sshOptions) }
        if chance(0.02) { return Hostile.huge }
        if chance(0.25) { return pick(Hostile.values) + pick(Hostile.values) }
        return pick(Hostile.values)
    }

    /// A password as MHA passes it (escape_for_shell's output, quotes removed by sh -c).
    mutating func password(_ n: Int, _ side: String) -> String {
        let core = "Fuzz-Secret-\(lane)-\(n)\(side)"
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: return core + #"-p@ss'w\"d\$x\`y\;z"#
        case 1: return core + #"\ with\ space\(s\)"#
        case 2: return core + "-é€ü"
        case 3: return core + #"-back\\slash"#
        case 4: return "\u{338}" + core  // a combining mark right after the `=`
        default: return core
        }
    }

    mutating func make(_ n: Int) -> FuzzCase {
        let kinds = HookKind.allCases
        let kind = kinds[n % kinds.count]
        let command = Self.commands[(n / kinds.count) % Self.commands.count]
        let dryRun = (n / (kinds.count * Self.commands.count)) % 2 == lane % 2
        var argv = template(kind, command == "unknown" ? "stop" : command)
        if command == "unknown" || (kind == .report && chance(0.5)) {
            argv.removeAll { $0.hasPrefix("--command=") }
            let c = command == "unknown" ? pick(Hostile.commands) : command
            if let c { argv.insert("--command=\(c)", at: Int.random(in: 0...argv.count, using: &rng)) }
        }
        // Mutations: hostile values, a missing `=`, split elements, empties, extras, repeats, drops.
        for _ in 0..<Int.random(in: 0...7, using: &rng) {
            guard !argv.isEmpty else { break }
            let i = Int.random(in: 0..<argv.count, using: &rng)
            let k = Self.key(of: argv[i])
            if k == "command", chance(0.7) { continue }
            switch Int.random(in: 0..<8, using: &rng) {
            case 0, 1:
                if let k { argv[i] = "--\(k)=\(value(for: k))" }
            case 2:
                if let k, !Hostile.hostKeys.contains(k), k != "ssh_options" { argv[i] = argv[i].replacingOccurrences(of: "\(k)=", with: k) }
            case 3:
                if let k, !Hostile.hostKeys.contains(k), k != "ssh_options", let eq = argv[i].firstIndex(of: "=") {
                    argv.replaceSubrange(i...i, with: [String(argv[i][..<eq]), String(argv[i][argv[i].index(after: eq)...])])
                }
            case 4:
                if let k { argv[i] = "--\(k)=" }
            case 5:
                let nk = pick(Hostile.unknownKeys)
                let e = chance(0.2) ? "--\(nk)" : chance(0.15) ? value(for: nil) : "--\(nk)=\(value(for: nk))"
                argv.insert(e, at: Int.random(in: 0...argv.count, using: &rng))
            case 6:
                if let k { argv.insert("--\(k)=\(value(for: k))", at: Int.random(in: 0...argv.count, using: &rng)) }
            default:
                if k != "command" { argv.remove(at: i) }
            }
        }
        if chance(0.3) { argv.shuffle(using: &rng) }
        // MHA's passwords (never mutated: they are what must not leak).
        argv.removeAll { Self.key(of: $0)?.contains("password") == true }
        var passwords: [String] = []
        var pairs: [[String]] = []
        for (key, wanted) in [("new_master_password", kind != .report || chance(0.3)),
                              ("orig_master_password", kind == .masterIPOnlineChange || chance(0.3))] where wanted {
            let p = password(n, key.hasPrefix("new") ? "n" : "o")
            passwords.append(p)
            if chance(0.12) {
                pairs.append(["--\(key)", p])  // Getopt::Long's `--key value`, kept together below
            } else {
                argv.insert("--\(key)=\(p)", at: chance(0.6) ? argv.count : Int.random(in: 0...argv.count, using: &rng))
            }
        }
        var chainCode: Int32? = nil
        if chance(0.2) {
            let c: Int32 = chance(0.5) ? 0 : 10
            chainCode = c
            argv.insert("--chain=\(chains[c]!)", at: Int.random(in: 0...argv.count, using: &rng))
        }
        let byEnv = dryRun && chance(0.3)
        if dryRun && !byEnv { argv.insert(chance(0.5) ? "--dry-run" : "--dry_run", at: Int.random(in: 0...argv.count, using: &rng)) }
        argv += pairs.flatMap { $0 }
        return FuzzCase(kind: kind, command: command, argv: argv, dryRun: dryRun, dryRunByEnv: byEnv, chainCode: chainCode,
                        passwords: passwords)
    }
}

/// The exit codes MHA may get for a call, from the argv as the hooks parse it. The lab's hosts
/// (127.0.0.250-251) run neither sshd for our key nor mysqld: shutdown_script without a power
/// manager finds the old master unreachable (ssh fails, nothing answers on its port) and says so
/// with 0, never 10; a host not in app.cnf is refused (shutdown_script: 1, nothing known stopped).
/// A chained script's own code wherever it runs; a dry run never runs it and returns what it
/// returns when it does its job (10 for shutdown stopssh, else 0).
fileprivate func expectedExitCodes(_ c: FuzzCase) -> Set<Int32> {
    let a = HookArguments(kind: c.kind, argv: c.argv)
    let known = { (s: HookServer) in HookLab.servers.contains(s.host) || HookLab.servers.contains(s.address) }
    let hostsKnown = [a.origMaster, a.newMaster].compactMap { $0 }.allSatisfy(known)
    let success: Int32 = c.kind == .shutdown && a.command == .stopssh ? 10 : 0
    let chain = c.chainCode.map { c.dryRun ? success : $0 }
    switch (c.kind, a.command) {
    case (.report, _):
        // report_script has no status call (MHA never sends one): a report, whatever --command says.
        return [chain ?? 0]
    case (_, .status?):
        let masterKnown = a.origMaster.map(known) ?? true
        return masterKnown ? [c.dryRun ? 0 : (c.chainCode ?? 0)] : [1]
    case (.shutdown, .stopssh?), (.shutdown, .stop?):
        if let chain { return [chain] }
        return hostsKnown && a.origMaster != nil ? [0] : [1]
    default:
        return [chain ?? 0]
    }
}

/// End to end on the built executables (`swift build --build-tests` first). The fuzz is seeded:
/// `HOOK_FUZZ_SEED=<n>` reruns a failing seed (printed with every failure), `HOOK_FUZZ_CASES=<n>`
/// sets the cases per lane (3 lanes, each with its own folder, run side by side). The soak
/// (`bench/hook-fuzz-soak.sh`) also sets `HOOK_FUZZ_RUNS` (all lanes together), `HOOK_FUZZ_LANES`,
/// `HOOK_FUZZ_TIMEOUT` (seconds a run may take), `HOOK_FUZZ_RECYCLE` (cases per lane after which the
/// lane's folder is checked and replaced by a fresh one) and `HOOK_FUZZ_SECONDS` (no new case after
/// that long: the runs done are reported as they are).
@Suite("hook fuzz: the built hook executables under hostile argv", .serialized)
struct HookFuzzTests {
    static let env = ProcessInfo.processInfo.environment
    static let seed: UInt64 = env["HOOK_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x4D48_415F_4655_5A5A
    static let lanes = env["HOOK_FUZZ_LANES"].flatMap { Int($0) }.map { max(1, $0) } ?? 3
    static let totalRuns = env["HOOK_FUZZ_RUNS"].flatMap { Int($0) }
    static let casesPerLane = Int(env["HOOK_FUZZ_CASES"] ?? "") ?? 90
    /// The cases of one lane: `HOOK_FUZZ_RUNS` split over the lanes, else `casesPerLane`.
    static func cases(lane: Int) -> Int {
        guard let n = totalRuns else { return casesPerLane }
        return n / lanes + (lane < n % lanes ? 1 : 0)
    }
    static let runTimeout = env["HOOK_FUZZ_TIMEOUT"].flatMap { TimeInterval($0) } ?? 30
    static let recycleEvery = env["HOOK_FUZZ_RECYCLE"].flatMap { Int($0) } ?? 0
    static let budget = env["HOOK_FUZZ_SECONDS"].flatMap { TimeInterval($0) }

    /// What is wrong with one run: a crash, a hang, a secret in the output.
    fileprivate static func problems(_ r: HookLab.Run, secrets: [String]) -> [String] {
        var p: [String] = []
        if r.signal != nil { p.append("crashed: \(r)") }
        if r.timedOut { p.append("hung: \(r)") }
        if r.output.contains("Fuzz-Secret") { p.append("a password reached the hook's output: \(r)") }
        for s in secrets where s.count >= 3 && r.output.contains(s) { p.append("password \(s) in the output: \(r)") }
        return p
    }

    /// What is wrong with a folder once its workers ended: stragglers, escapes, a secret in a file.
    fileprivate static func problems(_ lab: HookLab) -> [String] {
        var p: [String] = []
        let stragglers = lab.waitForWorkers()
        if !stragglers.isEmpty { p.append("still running after 30 s (killed): \(stragglers)") }
        let escapes = lab.escapes()
        if !escapes.isEmpty { p.append("created outside the state/store folders: \(escapes)") }
        let leaked = lab.files(containing: "Fuzz-Secret")
        if !leaked.isEmpty { p.append("a password reached a file: \(leaked)") }
        return p
    }

    /// Common checks of one run: no crash, no hang, no secret in the output, nothing run.
    fileprivate static func checkRun(_ r: HookLab.Run, secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for p in problems(r, secrets: secrets) { Issue.record(Comment(rawValue: p), sourceLocation: sourceLocation) }
    }

    /// Folder checks after the workers ended: nothing escaped, no secret in any file.
    fileprivate static func checkLab(_ lab: HookLab, sourceLocation: SourceLocation = #_sourceLocation) {
        for p in problems(lab) { Issue.record(Comment(rawValue: p), sourceLocation: sourceLocation) }
    }

    /// One fuzz run judged as it ends (a soak keeps counts, not runs).
    fileprivate static func problems(_ c: FuzzCase, _ r: HookLab.Run) -> [String] {
        var p = problems(r, secrets: c.passwords + c.passwords.map(MHAShell.unescape))
        if let code = r.code {
            let want = expectedExitCodes(c)
            if !want.contains(code) { p.append("exit \(code), expected \(want.sorted()): \(r)") }
            if ![0, 1, 10].contains(code) && code != c.chainCode { p.append("exit \(code) is not MHA's: \(r)") }
        }
        return p
    }

    /// A lane's folder at the end of its window: the common checks, and the trail is not vacuous
    /// (the real runs that passed a password wrote MHA's argv, passwords masked).
    fileprivate static func retire(_ lab: HookLab, lane: Int, realWithPassword: Int, into tally: FuzzTally) {
        for p in problems(lab) { tally.fail("seed \(seed) lane \(lane) folder \(lab.root): \(p)") }
        let audit = (try? String(contentsOfFile: lab.stateDir + "/audit.jsonl", encoding: .utf8)) ?? ""
        if realWithPassword > 0 && !audit.contains("_password=xxx") {
            tally.fail("seed \(seed) lane \(lane): \(lab.stateDir)/audit.jsonl has no redacted argv after \(realWithPassword) real runs with a password")
        }
    }

    @Test("fuzz: hundreds of random and hostile argv, every kind and --command, dry and real")
    func fuzz() throws {
        let tally = FuzzTally()
        let t0 = Date()
        let stopAt = Self.budget.map { t0.addingTimeInterval($0) }
        let planned = (0..<Self.lanes).map(Self.cases(lane:)).reduce(0, +)
        DispatchQueue.concurrentPerform(iterations: Self.lanes) { lane in
            do {
                var lab = try HookLab()
                var realWithPassword = 0
                defer { Self.retire(lab, lane: lane, realWithPassword: realWithPassword, into: tally); lab.cleanup() }
                func chains() throws -> [Int32: String] {
                    [0: try lab.chainScript(exitCode: 0).script, 10: try lab.chainScript(exitCode: 10).script]
                }
                var fz = HookFuzzer(rng: HookFuzzRNG(seed: Self.seed &+ UInt64(lane) &* 0x1000_0001), lab: lab, lane: lane, chains: try chains())
                for n in 0..<Self.cases(lane: lane) {
                    if let stopAt, Date() >= stopAt { tally.cut(); break }
                    if Self.recycleEvery > 0 && n > 0 && n % Self.recycleEvery == 0 {
                        Self.retire(lab, lane: lane, realWithPassword: realWithPassword, into: tally)
                        lab.cleanup()
                        lab = try HookLab()
                        realWithPassword = 0
                        fz = HookFuzzer(rng: fz.rng, lab: lab, lane: lane, chains: try chains())
                    }
                    let c = fz.make(n)
                    guard Hostile.argvIsSafe(c.kind, c.argv) else {
                        tally.fail("lane \(lane) case \(n): generated an argv that could reach another host: \(c.argv)")
                        continue
                    }
                    let r = try lab.run(c.kind, c.argv, environment: c.dryRunByEnv ? ["MHA_BACKUP_DRY_RUN": "1"] : [:],
                                        timeout: Self.runTimeout)
                    if !c.dryRun && !c.passwords.isEmpty { realWithPassword += 1 }
                    let where_ = "seed \(Self.seed) lane \(lane) case \(n)"
                    var problems = Self.problems(c, r).map { "\(where_): \($0)" }
                    let pwned = lab.pwned()
                    if !pwned.isEmpty { problems.append("\(where_) (or a run beside it) created \(pwned): \(r)") }
                    tally.add(c, r, problems: problems, planned: planned, since: t0)
                }
            } catch {
                tally.fail("lane \(lane): \(error)")
            }
        }
        let elapsed = Date().timeIntervalSince(t0)
        for f in tally.failures { Issue.record(Comment(rawValue: f)) }
        if tally.failureCount > tally.failures.count {
            Issue.record(Comment(rawValue: "… and \(tally.failureCount - tally.failures.count) more failures"))
        }
        #expect(tally.runs == planned || tally.wasCut, "\(tally.runs) of \(planned) runs")
        #expect(tally.real > 0 && tally.real < tally.runs)
        // Each kind x command x dry/real cell was exercised.
        #expect(tally.cells.count == HookKind.allCases.count * HookFuzzer.commands.count * 2, "\(tally.cells.sorted())")
        #expect(tally.huge > 0, "no run had a 100 KB value")
        print(tally.summary(seconds: elapsed, seed: Self.seed, lanes: Self.lanes))
    }

    @Test("chained script gets MHA's argv minus --chain/--config, password and newlines intact; its exit code is returned",
          arguments: [Int32(0), 1, 10, 42])
    func chain(code: Int32) throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 1), lab: lab, lane: 0, chains: [:])
        let password = #"Fuzz-Secret-chain-p@ss'w\"d\$x\`y\;z"#
        let note = "--x_note=line 1\nline 2 $(touch /tmp/pwned-\(HookLab.tag)-chain) `id`\n"
        let cases: [(HookKind, [String])] = [
            (.masterIPFailover, fz.template(.masterIPFailover, "stop") + [note]),
            (.shutdown, fz.template(.shutdown, "stop") + [note]),
            (.masterIPFailover, fz.template(.masterIPFailover, "start").dropLast() + [note, "--new_master_password=\(password)"]),
            (.masterIPOnlineChange, fz.template(.masterIPOnlineChange, "start").dropLast() + ["--new_master_password=\(password)"]),
            (.report, fz.template(.report, "report")),
        ]
        for (i, (kind, mha)) in cases.enumerated() {
            let (script, out) = try lab.chainScript(exitCode: code, record: true)
            // Our options anywhere on the app.cnf line: first, between MHA's, last (--config= is added last).
            var argv = mha
            argv.insert("--chain=\(script)", at: [0, mha.count / 2, mha.count][i % 3])
            let r = try lab.run(kind, argv)
            HookFuzzTests.checkRun(r, secrets: [password, MHAShell.unescape(password)])
            #expect(r.code == code, "\(r)")
            let got = try #require(HookLab.readArgv(out), "the chained script did not run: \(r)")
            #expect(got == mha, "\(kind): the chain got \(got)")
            if kind == .report { #expect(got.contains { $0.hasPrefix("--body=") && $0.contains("\n\n") }) }
        }
        HookFuzzTests.checkLab(lab)
        let audit = try String(contentsOfFile: lab.stateDir + "/audit.jsonl", encoding: .utf8)
        #expect(audit.contains("\"exitCode\":\(code)"), "the chain's exit is audited")
    }

    @Test("a dry run plans the chain with the same argv (less --dry-run), password masked, and runs nothing")
    func chainDryRun() throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let (script, out) = try lab.chainScript(exitCode: 42, record: true)
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 2), lab: lab, lane: 0, chains: [:])
        let mha = fz.template(.masterIPFailover, "start")
        let r = try lab.run(.masterIPFailover, ["--dry-run"] + mha + ["--chain=\(script)"])
        HookFuzzTests.checkRun(r, secrets: ["mhapass"])
        #expect(r.code == 0)
        // shutdown_script stopssh with a power manager: the rehearsal says and returns 10 (what a
        // power manager that stopped mysqld returns), not "no chained power manager".
        let s = try lab.run(.shutdown, ["--dry-run"] + fz.template(.shutdown, "stopssh") + ["--chain=\(script)"])
        #expect(s.code == 10, "\(s)")
        #expect(s.stderr.contains("plan: run chained") && !s.stderr.contains("no chained power manager"), "\(s)")
        let missing = try lab.run(.shutdown, ["--dry-run"] + fz.template(.shutdown, "stopssh") + ["--chain=\(lab.root)/nope"])
        #expect(missing.code == 1, "a chain that cannot run fails the real run: \(missing)")
        #expect(HookLab.readArgv(out) == nil, "the chain ran in a dry run")
        let plan = try #require(r.stderr.split(separator: "\n").first { $0.contains("plan: run chained") }, "\(r)")
        #expect(!plan.contains("--dry-run") && !plan.contains("--chain=") && !plan.contains("--config="), "\(plan)")
        #expect(plan.contains("--new_master_password=xxx"), "\(plan)")
        #expect(plan.contains("--new_master_host=127.0.0.251"), "\(plan)")
        HookFuzzTests.checkLab(lab)
    }

    @Test("missing config: status exits 1 with one stderr line naming the file; stop still runs the site's script")
    func missingConfig() throws {
        let lab = try HookLab(writeConfig: false)
        defer { lab.waitForWorkers(); lab.cleanup() }
        let missing = lab.root + "/missing.cnf"
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 3), lab: lab, lane: 0, chains: [:])
        for kind in [HookKind.masterIPFailover, .shutdown, .masterIPOnlineChange] {
            for viaArgv in [true, false] {
                let argv = fz.template(kind, "status")
                let r = viaArgv ? try lab.run(kind, argv, configPath: missing)
                    : try lab.run(kind, argv, useConfig: false, environment: ["MHA_BACKUP_CONFIG": missing])
                HookFuzzTests.checkRun(r, secrets: [])
                #expect(r.code == 1, "\(r)")
                #expect(r.stdout.isEmpty, "\(r)")
                let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
                #expect(lines.count == 1, "\(r)")
                #expect(lines.first?.contains(missing) == true, "\(r)")
            }
        }
        for (kind, command, code) in [(HookKind.masterIPFailover, "stop", Int32(0)), (.shutdown, "stop", 0), (.masterIPFailover, "start", 0),
                                      (.shutdown, "stopssh", 10), (.masterIPFailover, "stop", 10)] {
            let (script, out) = try lab.chainScript(exitCode: code, record: true)
            let mha = fz.template(kind, command)
            let r = try lab.run(kind, mha + ["--chain=\(script)"], configPath: missing)
            HookFuzzTests.checkRun(r, secrets: ["mhapass"])
            #expect(r.code == code, "\(r)")
            #expect(HookLab.readArgv(out) == mha, "the site's script did not get MHA's argv: \(r)")
            #expect(r.stderr.contains(missing), "\(r)")
        }
        HookFuzzTests.checkLab(lab)
        #expect(!FileManager.default.fileExists(atPath: lab.stateDir), "no state without a config")
    }

    @Test("host names with shell metacharacters or ../ run nothing and create nothing outside the folder")
    func hostileHosts() throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let t = HookLab.tag
        // MHA's saved binlog, so the report's worker gets as far as naming an archive folder.
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(lab.managerWorkdir)/saved_master_binlog_from_x_3306_20261125.binlog"))
        let ssh = "--ssh_options=-o ConnectTimeout=1"
        let calls: [(HookKind, [String], Set<Int32>)] = [
            (.shutdown, ["--command=stopssh", "--ssh_user=root", "--host=a;touch /tmp/pwned-\(t)-x1", "--ip=$(touch /tmp/pwned-\(t)-x2)",
                         "--port=3306", ssh], [1]),
            (.shutdown, ["--command=stopssh", "--ssh_user=$(touch /tmp/pwned-\(t)-x3)", "--host=127.0.0.250", "--ip=127.0.0.250",
                         "--ssh_ip=`touch /tmp/pwned-\(t)-x4`", "--pid_file=$(touch /tmp/pwned-\(t)-x5)", ssh], [0]),
            (.masterIPFailover, ["--orig_master_host=../../../../tmp/escape", "--orig_master_ip=../../../../tmp/escape-\(t)",
                                 "--orig_master_port=3306", "--command=stopssh", "--ssh_user=root", ssh], [0]),
            (.masterIPFailover, ["--command=start", "--orig_master_host=../../etc", "--orig_master_ip=127.0.0.250",
                                 "--new_master_host=-oProxyCommand=touch /tmp/pwned-\(t)-x6", "--new_master_ip=$(id)", ssh,
                                 "--new_master_password=Fuzz-Secret-h"], [0]),
            (.report, ["--orig_master_host=../../../../tmp/escape", "--new_master_host=$(touch /tmp/pwned-\(t)-x7)",
                       "--new_slave_hosts=../../etc,`id`", "--conf=\(lab.root)/app.cnf", "--subject=$(id)", "--body=`id`\n"], [0]),
            (.masterIPFailover, ["--command=status", "--ssh_user=root", "--orig_master_host=h;touch /tmp/pwned-\(t)-x8",
                                 "--orig_master_ip=127.0.0.250/../../x", ssh], [1]),
        ]
        for (kind, argv, codes) in calls {
            for h in [HookArguments(kind: kind, argv: argv).origMaster, HookArguments(kind: kind, argv: argv).newMaster].compactMap({ $0 }) {
                try #require(Hostile.safeHost(h.host) && Hostile.safeHost(h.address) && Hostile.safeHost(h.sshIP ?? "-"))
            }
            let r = try lab.run(kind, argv)
            HookFuzzTests.checkRun(r, secrets: [])
            #expect(r.code.map { codes.contains($0) } == true, "\(r)")
        }
        HookFuzzTests.checkLab(lab)
        // The invalid hosts were refused, not used.
        let audit = try String(contentsOfFile: lab.stateDir + "/audit.jsonl", encoding: .utf8)
        #expect(audit.contains("invalid host"), "\(audit)")
        #expect(audit.contains("is not a server in"), "\(audit)")
        let records = (try? FileManager.default.contentsOfDirectory(atPath: lab.stateDir + "/failovers")) ?? []
        #expect(records.allSatisfy { !$0.contains("/") && !$0.hasPrefix(".") || $0 == ".lock" }, "\(records)")
    }

    @Test("passwords in odd spellings stay out of the output and the audit",
          arguments: ["--new_master_password=\u{338}Fuzz-Secret-comb", "--new_master_password=\u{301}Fuzz-Secret-acute",
                      "--new_master_password Fuzz-Secret-two", "--orig_master_password Fuzz-Secret-two-o",
                      "--NEW_MASTER_PASSWORD=Fuzz-Secret-upper", "--new_master_password=Fuzz-Secret-\u{1F600}-\u{202E}x"])
    func passwordSpellings(spelling: String) throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 7), lab: lab, lane: 0, chains: [:])
        let tail = spelling.split(separator: " ").map(String.init)
        for (kind, command) in [(HookKind.masterIPFailover, "start"), (.masterIPOnlineChange, "stop"), (.masterIPFailover, "bogus")] {
            for dry in [false, true] {
                let mha = fz.template(kind, command == "bogus" ? "stop" : command).filter { !$0.contains("_password=") }
                    .map { $0 == "--command=stop" && command == "bogus" ? "--command=bogus" : $0 }
                let r = try lab.run(kind, mha + (dry ? ["--dry-run"] : []) + tail)
                HookFuzzTests.checkRun(r, secrets: [])
                #expect(r.code == 0, "\(r)")
            }
        }
        HookFuzzTests.checkLab(lab)
    }

    @Test("while the hook runs, its /proc cmdline (what ps shows) no longer holds the password",
          arguments: [("--new_master_password=Fuzz-Secret-ps", true), ("--orig_master_password=Fuzz-Secret-ps-o\\\"x", true),
                      ("--new_master_password=\u{338}Fuzz-Secret-ps-comb", true), ("--new_master_password Fuzz-Secret-ps-two", true)])
    func passwordNotInProcCmdline(spelling: String, wipedToday: Bool) throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let (spy, out) = try lab.cmdlineSpy()
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 8), lab: lab, lane: 0, chains: [:])
        let mha = fz.template(.masterIPFailover, "start").dropLast() + spelling.split(separator: " ").map(String.init)
        let r = try lab.run(.masterIPFailover, mha + ["--chain=\(spy)"])
        HookFuzzTests.checkRun(r, secrets: [])
        #expect(r.code == 0, "\(r)")
        // One text, the arguments joined by spaces, once a secret is masked (ArgvWipe).
        let shown = try #require(HookLab.readArgv(out), "the spy did not run: \(r)")
        let seen = shown.flatMap { $0.split(separator: " ").map(String.init) }
        #expect(seen.contains { $0.hasPrefix("--command=start") }, "\(seen)")
        _ = wipedToday
        #expect(!seen.joined(separator: " ").contains("Fuzz-Secret"), "\(seen)")
        #expect(seen.contains { e in
            e.count >= 8 && (e.split(separator: "=", maxSplits: 1).last.map { $0.allSatisfy { $0 == "x" } } ?? false)
        }, "the value is replaced by the fixed mask: \(seen)")
        HookFuzzTests.checkLab(lab)
    }

    @Test("SIGTERM to a hook stops its chained script's process group, records it, and exits 1")
    func sigtermStopsChain() throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let pidOut = lab.root + "/chain-child.pid"
        let script = try lab.write("chains/slow", "#!/bin/sh\nsleep 300 &\necho $! > '\(pidOut)'\nwait\n", mode: 0o700)
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 7), lab: lab, lane: 0, chains: [:])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(lab.bin)/\(HookLab.executables[.report]!)")
        p.arguments = fz.template(.report, "report") + ["--chain=\(script)", "--config=\(lab.config)"]
        p.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "MHA_BACKUP_CONFIG": lab.config]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var child: Int32? = nil
        for _ in 0..<200 where child == nil {
            usleep(20_000)
            child = (try? String(contentsOfFile: pidOut, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        let c = try #require(child, "the chained script did not start")
        let t0 = Date()
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(Date().timeIntervalSince(t0) < 6)
        #expect(p.terminationReason == .exit && p.terminationStatus == 1, "\(p.terminationReason) \(p.terminationStatus)")
        usleep(200_000)
        #expect(!ProcessRunner.isAlive(c), "the chained script's child outlived the hook")
        let audit = try String(contentsOfFile: lab.stateDir + "/audit.jsonl", encoding: .utf8)
        #expect(audit.contains("\"interrupted\"") && audit.contains("SIGTERM"), "\(audit.suffix(800))")
    }

    @Test("a dry run changes nothing: no record, no fence, no timeline, no audit line, no worker")
    func dryRunChangesNothing() throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 4), lab: lab, lane: 0, chains: [:])
        for kind in HookKind.allCases {
            for command in ["status", "stop", "stopssh", "start"] {
                let argv = fz.template(kind, command) + ["--dry-run"]
                let r = try lab.run(kind, argv)
                HookFuzzTests.checkRun(r, secrets: ["mhapass"])
                let c = FuzzCase(kind: kind, command: command, argv: argv, dryRun: true, dryRunByEnv: false, chainCode: nil, passwords: [])
                #expect(r.code.map { expectedExitCodes(c).contains($0) } == true, "\(r)")
            }
        }
        #expect(lab.processes().isEmpty, "a dry run started a worker")
        let files = lab.walk().filter { $0.hasPrefix("state/") || $0.hasPrefix("store/") }
            .filter { rel in var d: ObjCBool = false; return FileManager.default.fileExists(atPath: "\(lab.root)/\(rel)", isDirectory: &d) && !d.boolValue }
        // Not even the audit trail: a rehearsal only says what it would do (on stderr).
        #expect(files.isEmpty, "\(files)")
        HookFuzzTests.checkLab(lab)
    }

    @Test("a dry-run shutdown_script stopssh predicts the real run: ssh does not reach the lab's host, so 0, said why")
    func dryRunStopsshExitCode() throws {
        let lab = try HookLab()
        defer { lab.waitForWorkers(); lab.cleanup() }
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 5), lab: lab, lane: 0, chains: [:])
        let r = try lab.run(.shutdown, fz.template(.shutdown, "stopssh") + ["--dry-run"])
        HookFuzzTests.checkRun(r, secrets: [])
        #expect(r.stderr.contains("exit 0") && r.stderr.contains("does not reach"), "\(r)")
        #expect(r.code == 0, "\(r)")
    }

    @Test("without a config, a dry-run shutdown_script stopssh kills nothing and predicts from a harmless ssh 'true'")
    func dryRunWithoutConfigRunsSSH() throws {
        let lab = try HookLab(writeConfig: false)
        defer { lab.waitForWorkers(); lab.cleanup() }
        let fz = HookFuzzer(rng: HookFuzzRNG(seed: 6), lab: lab, lane: 0, chains: [:])
        // One connection attempt (MHA's ALIVE set asks for 5, 4 s against a closed port).
        let argv = fz.template(.shutdown, "stopssh").map { $0.hasPrefix("--ssh_options=") ? "--ssh_options=-o ConnectionAttempts=1" : $0 }
        let r = try lab.run(.shutdown, argv + ["--dry-run"], configPath: lab.root + "/missing.cnf")
        HookFuzzTests.checkRun(r, secrets: [])
        #expect(r.code == 0, "\(r)")
        #expect(!r.stderr.contains("stop mysqld"), "\(r)")
    }
}

/// What the fuzz lanes (threads) found: counts of every run, the first failures in full.
fileprivate final class FuzzTally: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var runs = 0
    private(set) var real = 0
    private(set) var huge = 0
    private(set) var cells: Set<String> = []
    private(set) var codes: [String: Int] = [:]
    private(set) var slowest: TimeInterval = 0
    private(set) var failures: [String] = []
    private(set) var failureCount = 0
    private(set) var wasCut = false
    /// Failures kept in full (the rest are counted).
    let keep = 50

    func add(_ c: FuzzCase, _ r: HookLab.Run, problems: [String], planned: Int, since t0: Date) {
        lock.lock()
        defer { lock.unlock() }
        runs += 1
        if !c.dryRun { real += 1 }
        if c.argv.contains(where: { $0.count >= 100_000 }) { huge += 1 }
        cells.insert("\(c.kind.rawValue) \(c.command) \(c.dryRun)")
        codes[r.code.map(String.init) ?? (r.timedOut ? "timeout" : "signal \(r.signal ?? 0)"), default: 0] += 1
        slowest = max(slowest, r.duration)
        for p in problems { record(p) }
        // A soak says how far it got (the CI run is short enough not to).
        if planned > 1000 && runs % 1000 == 0 {
            let el = Date().timeIntervalSince(t0)
            print(String(format: "hook fuzz: %d/%d runs, %.1f s, %.1f runs/s, %d failures", runs, planned, el, Double(runs) / el, failureCount))
            fflush(nil)  // through a pipe too, as it happens
        }
    }

    func fail(_ s: String) { lock.lock(); record(s); lock.unlock() }
    func cut() { lock.lock(); wasCut = true; lock.unlock() }

    private func record(_ s: String) {
        failureCount += 1
        if failures.count < keep { failures.append(s) }
    }

    func summary(seconds: TimeInterval, seed: UInt64, lanes: Int) -> String {
        let codeList = codes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        return "hook fuzz: \(runs) runs (\(real) real, \(huge) with a 100 KB value) in \(String(format: "%.1f", seconds)) s, seed \(seed)"
            + ", \(lanes) lanes, \(String(format: "%.1f", Double(runs) / max(seconds, 0.001))) runs/s, slowest \(String(format: "%.1f", slowest)) s"
            + ", exit codes {\(codeList)}, \(failureCount) failures\(wasCut ? ", cut by HOOK_FUZZ_SECONDS" : "")"
    }
}
