import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("argv wipe: a password on MHA's command line shows as a fixed mask")
struct ArgvWipeTests {
    static func bytes(_ argv: [String]) -> [[UInt8]] { argv.map { Array($0.utf8) } }
    static func text(_ argv: [String]) -> String? {
        ArgvWipe.maskedText(bytes(argv)).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("the shown text is the same for passwords of 0 to 200 characters, in both spellings")
    func fixedLength() throws {
        let head = ["/usr/local/bin/mha-backup-master-ip-failover", "--command=start", "--new_master_user=mha"]
        for form in ["=", " "] {
            var seen: Set<String> = []
            for n in [0, 1, 7, 8, 9, 40, 200] {
                let pw = String(repeating: "p", count: n)
                let tail = form == "=" ? ["--new_master_password=\(pw)"] : ["--new_master_password", pw]
                let t = try #require(Self.text(head + tail + ["--ssh_user=root"]))
                #expect(!t.contains("pp") && !(n == 1 && t.contains(" p")), "\(t)")
                seen.insert(t)
            }
            #expect(seen.count == 1, "\(seen)")
            let shown = try #require(seen.first)
            #expect(shown == head.joined(separator: " ") + (form == "=" ? " --new_master_password=xxxxxxxx" : " --new_master_password xxxxxxxx")
                + " --ssh_user=root")
        }
    }

    @Test("every secret key is masked, nothing else; argv[0] and an option after a bare key are kept")
    func whatIsMasked() {
        #expect(Self.text(["/bin/hook", "--command=status", "--ssh_user=root"]) == nil)
        #expect(Self.text(["--password=argv0", "--command=stop"]) == nil)
        #expect(Self.text(["h", "--orig_master_password=a b", "--NEW_MASTER_PASSWORD=\u{1F600}", "--x=1"])
                == "h --orig_master_password=xxxxxxxx --NEW_MASTER_PASSWORD=xxxxxxxx --x=1")
        #expect(Self.text(["h", "--new_master_password", "--command=stop"]) == nil)
        // A combining mark after `=` does not hide the `=` (bytes, not Characters).
        #expect(Self.text(["h", "--new_master_password=\u{338}secret"]) == "h --new_master_password=xxxxxxxx")
        #expect(Self.text(["h", "--secret_token", "", "--y"]) == "h --secret_token xxxxxxxx --y")
    }
}

/// Runs the BUILT hook executables, as MHA does, and reads their /proc/PID/cmdline through a
/// chained script (its parent is the hook).
@Suite("argv wipe of the built hooks: what ps shows does not depend on the password's length")
struct ArgvWipeEndToEndTests {
    /// The build folder: `ARGV_WIPE_BIN_DIR` (to run the same tests against other builds), else
    /// beside the test bundle, else `<repo>/.build/debug`.
    static let binDir: String? = {
        if let d = ProcessInfo.processInfo.environment["ARGV_WIPE_BIN_DIR"], !d.isEmpty { return d }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let dirs = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path, repo + "/.build/debug"]
        return dirs.first { FileManager.default.isExecutableFile(atPath: "\($0)/mha-backup-master-ip-failover") }
    }()

    struct Seen {
        var cmdline: [UInt8]
        var chainArgv: [String]
        var chainMark: String
        var code: Int32?
    }

    /// One hook run: our options first (as on an app.cnf line), then MHA's argv. The config does
    /// not exist, so the hook runs only the chained script, which saves its parent's cmdline, its
    /// own argv and one environment variable.
    static func run(_ exe: String, _ mha: [String]) throws -> Seen {
        let bin = try #require(binDir, "hook executables not built: run `swift build --build-tests` first")
        let root = "/tmp/mhab-argvwipe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spy = root + "/spy"
        let script = """
            #!/bin/sh
            cat /proc/$PPID/cmdline > '\(root)/cmdline'
            printf '%s\\0' "$@" > '\(root)/argv'
            printf '%s' "$ARGV_WIPE_MARK" > '\(root)/mark'
            exit 0

            """
        // Close-on-exec: a process another test starts meanwhile must not keep it open for
        // writing (exec would then fail with ETXTBSY).
        let fd = open(spy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o700)
        try #require(fd >= 0)
        let written = Array(script.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        try #require(written == script.utf8.count)
        var cmd = Command(["\(bin)/\(exe)", "--config=\(root)/missing.cnf", "--chain=\(spy)"] + mha)
        cmd.clearEnvironment = true
        cmd.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": root, "LANG": "C.UTF-8", "ARGV_WIPE_MARK": "mark-\(root)"]
        var o = RunOptions(timeout: 30)
        o.stdout = .capture(limit: 1 << 20)
        let r = try ProcessRunner().runPipeline([cmd], options: o)
        let cmdline = try #require(FileManager.default.contents(atPath: root + "/cmdline"),
                                   "the chain did not run: \(r.stages[0].statusText), timed out \(r.timedOut), \(r.stages[0].stderr)")
        let argv = (FileManager.default.contents(atPath: root + "/argv") ?? Data())
            .split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        let mark = (try? String(contentsOfFile: root + "/mark", encoding: .utf8)) ?? ""
        // The folder's name differs per run: compare the rest.
        let shown = String(decoding: cmdline, as: UTF8.self).replacingOccurrences(of: root, with: "ROOT")
        return Seen(cmdline: Array(shown.utf8), chainArgv: argv.map { $0.replacingOccurrences(of: root, with: "ROOT") },
                    chainMark: mark.replacingOccurrences(of: root, with: "ROOT"), code: r.stages[0].exitCode)
    }

    @Test("master_ip_failover start: /proc/PID/cmdline is the same bytes for a 1- and a 40-character password")
    func failoverStart() throws {
        let short = "s"
        let long = String(repeating: "L", count: 40)
        let mha = Array(MHAArgv.failoverStart.dropLast())
        let a = try Self.run("mha-backup-master-ip-failover", mha + ["--new_master_password=\(short)"])
        let b = try Self.run("mha-backup-master-ip-failover", mha + ["--new_master_password=\(long)"])
        let shownA = String(decoding: a.cmdline, as: UTF8.self)
        #expect(a.cmdline == b.cmdline, "1 character:\n\(shownA)\n40 characters:\n\(String(decoding: b.cmdline, as: UTF8.self))")
        #expect(shownA.hasSuffix("--new_master_password=xxxxxxxx\0"), "\(shownA)")
        #expect(!String(decoding: b.cmdline, as: UTF8.self).contains("LL"))
        #expect(shownA.contains("--command=start --ssh_user=root"), "the other arguments are shown: \(shownA)")
        // Everything else behaves as before: the site's script gets MHA's argv and environment.
        for (s, pw) in [(a, short), (b, long)] {
            #expect(s.code == 0)
            #expect(s.chainArgv == mha + ["--new_master_password=\(pw)"])
            #expect(s.chainMark == "mark-ROOT")
        }
    }

    @Test("online change stop: both passwords, the `--key value` spelling, and a password as long as the mask")
    func onlineChangeTwoSecrets() throws {
        let mha = ["--command=stop", "--orig_master_host=127.0.0.11", "--orig_master_ip=127.0.0.11", "--orig_master_port=3306",
                   "--orig_master_user=mha", "--new_master_host=127.0.0.12", "--new_master_ip=127.0.0.12",
                   "--new_master_port=3306", "--new_master_user=mha", "--orig_master_ssh_user=root", "--new_master_ssh_user=root"]
        var shown: [[UInt8]] = []
        for (o, n) in [("1", "2"), ("12345678", String(repeating: "n", count: 40)), (String(repeating: "o", count: 33), "")] {
            let s = try Self.run("mha-backup-master-ip-online-change", mha + ["--orig_master_password", o, "--new_master_password=\(n)"])
            #expect(s.code == 0)
            #expect(s.chainArgv == mha + ["--orig_master_password", o, "--new_master_password=\(n)"])
            shown.append(s.cmdline)
        }
        #expect(Set(shown).count == 1, "\(shown.map { String(decoding: $0, as: UTF8.self) })")
        let text = String(decoding: shown[0], as: UTF8.self)
        #expect(text.hasSuffix("--orig_master_password xxxxxxxx --new_master_password=xxxxxxxx\0"), "\(text)")
    }

    @Test("without a password the command line is left as it was (NUL between the arguments)")
    func noSecretUnchanged() throws {
        let s = try Self.run("mha-backup-report", ["--orig_master_host=127.0.0.11", "--conf=/etc/mha/app1.cnf", "--subject=s", "--body=b"])
        let parts = s.cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(parts.dropFirst() == ["--config=ROOT/missing.cnf", "--chain=ROOT/spy", "--orig_master_host=127.0.0.11",
                                      "--conf=/etc/mha/app1.cnf", "--subject=s", "--body=b"])
    }
}
