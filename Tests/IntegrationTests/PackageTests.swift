import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// The Debian package, end to end on this machine: `dpkg -i`, the installed `mha-backup` and hooks
/// on their own sandbox (127.0.0.71-73; `MHA_BACKUP_PACKAGE_BASE=N` moves it) with a real MHA
/// failover whose app.cnf names only the installed hooks, then `dpkg -r` (only the conffiles stay)
/// and `dpkg -P` (nothing stays). The .deb is `$MHA_BACKUP_DEB` (scripts/test builds it first),
/// else `scripts/package` builds it here (a release build: several minutes).
@Suite("Debian package", .serialized)
struct PackageIntegrationTests {
    static let base = ProcessInfo.processInfo.environment["MHA_BACKUP_PACKAGE_BASE"].flatMap { Int($0) } ?? 70
    static let root = "\(Sandbox.defaultRoot)-pkg-\(base)"
    static let hooksDir = "/usr/share/mha-backup/hooks"
    static let exes = ["mha-backup", "mha-backup-master-ip-failover", "mha-backup-shutdown", "mha-backup-report",
                       "mha-backup-master-ip-online-change"]
    static let conffiles = ["/etc/mha-backup/mha-backup.cnf", "/etc/mha-backup/client.cnf"]

    struct Out {
        var code: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    /// Runs a program with a clean environment: nothing points back at this checkout (no
    /// MHA_BACKUP_REPO, MHA_BACKUP_BIN_DIR or PATH to a build), so only installed files can run.
    @discardableResult
    static func run(_ argv: [String], env: [String: String] = [:], timeout: TimeInterval = 300) throws -> Out {
        var c = Command(argv, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"]
                            .merging(env) { $1 })
        c.clearEnvironment = true
        let r = try ProcessRunner().run(c, timeout: timeout)
        return Out(code: r.stages[0].exitCode ?? -1, stdout: r.stdoutString, stderr: r.stages[0].stderr)
    }

    static func installed() -> Bool {
        ((try? run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "mha-backup"]))?.stdout ?? "").hasPrefix("ii")
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func mode(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "missing" }
        return String(st.st_mode & 0o7777, radix: 8)
    }

    /// Where the .deb goes when the test builds it (removed at the end).
    static let builtHere = "/tmp/mha-backup-package-test"

    /// The .deb to test: the one scripts/test built, else one built now.
    static func deb() throws -> String {
        if let d = ProcessInfo.processInfo.environment["MHA_BACKUP_DEB"] {
            try #require(FileManager.default.fileExists(atPath: d), "MHA_BACKUP_DEB=\(d) does not exist (did scripts/package fail?)")
            return d
        }
        let out = Self.builtHere
        let r = try run(["/bin/bash", "\(Harness.shared.repo)/scripts/package", "--out", out],
                        env: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"], timeout: 3600)
        try #require(r.code == 0, "scripts/package failed: \(r.all.suffix(2000))")
        let arch = try run(["dpkg", "--print-architecture"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return "\(out)/mha-backup_\(MHABackupVersion.version)_\(arch).deb"
    }

    @Test("dpkg -i; --version and --help; check and a real MHA failover with the installed hooks only; an upgrade keeps an edited conffile; dpkg -r keeps only the conffiles; dpkg -P removes them")
    func installFailoverRemovePurge() throws {
        for (p, pkg) in [("dpkg", "dpkg"), ("dpkg-deb", "dpkg"), ("groff", "groff-base"), ("masterha_manager", "mha4mysql-manager"),
                         ("mariadbd", "mariadb-server"), ("sshd", "openssh-server")] {
            try #require(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(p)") },
                         "\(p) is missing (Debian package \(pkg))")
        }
        try #require(!Self.installed(), "the mha-backup package is installed on this machine; this test installs and purges its own (dpkg -P mha-backup first)")
        let deb = try Self.deb()
        let version = MHABackupVersion.version
        let fields = try Self.run(["dpkg-deb", "-f", deb, "Package", "Version"])
        #expect(fields.stdout == "Package: mha-backup\nVersion: \(version)\n", "\(deb): \(fields.all)")

        // Every path the package holds, and which of them existed before (shared folders: /usr/bin...).
        let listing = try Self.run(["dpkg-deb", "--contents", deb], timeout: 120)
        try #require(listing.code == 0, "\(listing.all)")
        let paths = listing.stdout.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6 else { return nil }
            var s = String(f[5].dropFirst())  // "./usr/bin/x" -> "/usr/bin/x"
            if s.count > 1, s.hasSuffix("/") { s.removeLast() }
            return s.count > 1 ? s : nil
        }
        #expect(paths.contains("/usr/bin/mha-backup") && paths.contains("\(Self.hooksDir)/report_script"), "\(paths)")
        let before = Set(paths.filter(Self.exists))
        let ours = paths.filter { !before.contains($0) }
        #expect(!ours.isEmpty)

        var sandbox = Sandbox(root: Self.root, base: Self.base)
        sandbox.log = { _ in }
        defer {
            try? sandbox.down()
            if deb.hasPrefix(Self.builtHere + "/") { _ = try? Self.run(["rm", "-rf", Self.builtHere]) }
            if Self.installed() || ((try? Self.run(["dpkg-query", "-W", "mha-backup"]))?.code ?? 1) == 0 {
                _ = try? Self.run(["dpkg", "-P", "mha-backup"])
            }
        }

        // Install.
        let inst = try Self.run(["dpkg", "-i", deb], timeout: 600)
        try #require(inst.code == 0, "dpkg -i: \(inst.all)")
        #expect(Self.installed())
        for e in Self.exes {
            let v = try Self.run(["/usr/bin/\(e)", "--version"])
            #expect(v.code == 0 && v.stdout == "\(e) \(version)\n", "\(e) --version: \(v.all)")
            let h = try Self.run(["/usr/bin/\(e)", "--help"])
            #expect(h.code == 0 && h.stdout.hasPrefix("usage: \(e)"), "\(e) --help: \(h.all)")
        }
        let help = try Self.run(["/usr/bin/mha-backup", "help", "restore"])
        #expect(help.code == 0 && help.stdout.contains("--to-time"), "\(help.all)")
        for (name, exe) in [("master_ip_failover", "mha-backup-master-ip-failover"), ("shutdown_script", "mha-backup-shutdown"),
                            ("report_script", "mha-backup-report"), ("master_ip_online_change", "mha-backup-master-ip-online-change")] {
            let target = URL(fileURLWithPath: "\(Self.hooksDir)/\(name)").resolvingSymlinksInPath().path
            #expect(target == "/usr/bin/\(exe)", "\(name) -> \(target)")
        }
        #expect(Self.mode("/etc/mha-backup") == "700")
        #expect(Self.mode("/var/lib/mha-backup") == "700")
        for f in Self.conffiles { #expect(Self.mode(f) == "600", "\(f): \(Self.mode(f))") }
        let conf = try Self.run(["dpkg-query", "-W", "-f=${Conffiles}", "mha-backup"])
        for f in Self.conffiles { #expect(conf.stdout.contains(f), "not a conffile: \(f): \(conf.stdout)") }
        #expect(Self.exists("/usr/share/man/man1/mha-backup.1.gz"))
        let roff = try Self.run(["zcat", "/usr/share/man/man1/mha-backup.1.gz"])
        #expect(roff.code == 0 && roff.stdout.contains(".SH COMMANDS"), "\(roff.all)")
        let r = try ProcessRunner().run(Command(["groff", "-man", "-Tutf8", "-ww", "-z"]), timeout: 60, stdin: .data(Data(roff.stdout.utf8)))
        #expect(r.succeeded && r.stages[0].stderr.isEmpty, "groff warns about mha-backup.1: \(r.stages[0].stderr)")
        #expect(Self.exists("/usr/share/doc/mha-backup/examples/app.cnf"))
        #expect(Self.exists("/usr/share/doc/mha-backup/copyright"))
        let unit = (try? String(contentsOfFile: "/usr/share/doc/mha-backup/examples/systemd/mha-backup-binlog-stream.service", encoding: .utf8)) ?? ""
        #expect(unit.contains("ExecStart=/usr/bin/mha-backup binlog stream"), "the sample unit runs \(unit)")

        // The sandbox from the installed binary, its app.cnf naming the installed hooks.
        let sb = ["/usr/bin/mha-backup", "sandbox"]
        let where_ = ["--base", "\(Self.base)", "--root", Self.root, "--hooks-dir", Self.hooksDir]
        _ = try Self.run(sb + ["down"] + where_, timeout: 120)
        let up = try Self.run(sb + ["up"] + where_, timeout: 600)
        try #require(up.code == 0, "sandbox up: \(up.all)")
        let app = try String(contentsOfFile: sandbox.appCnf, encoding: .utf8)
        for (key, name) in [("master_ip_failover_script", "master_ip_failover"), ("shutdown_script", "shutdown_script"),
                            ("report_script", "report_script"), ("master_ip_online_change_script", "master_ip_online_change")] {
            #expect(app.contains("\n\(key)=\(Self.hooksDir)/\(name) --config="), "app.cnf: \(key) is not the installed hook")
        }
        #expect(!app.contains(Harness.shared.repo), "app.cnf names the checkout")
        let env = ["MHA_BACKUP_CONFIG": sandbox.backupCnf]
        let check = try Self.run(["/usr/bin/mha-backup", "check"], env: env)
        #expect(check.code == 0, "check: \(check.all)")

        // A real failover: MHA runs the installed hooks; their worker is /usr/bin/mha-backup.
        let fo = try Self.run(sb + ["failover", "--mysqld"] + where_, timeout: 300)
        #expect(fo.code == 0, "sandbox failover: \(fo.all)")
        let newMaster = "127.0.0.\(Self.base + 2)"
        #expect(fo.stdout.contains("-> \(newMaster)"), "\(fo.all)")
        let ctx = try Context.load(configPath: sandbox.backupCnf)
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        let rec = try #require(store.all().last, "no failover record")
        #expect(Harness.shared.wait(60, every: 0.5) { (store.load(rec.id)?.status ?? .open) != .open })
        let done = try #require(store.load(rec.id))
        #expect(done.status == .succeeded, "failover record: \(done.status)")
        #expect(done.salvage?.state == .done, "salvage: \(String(describing: done.salvage))")
        let audit = try Self.run(["/usr/bin/mha-backup", "audit", "--failover", rec.id, "--json"], env: env)
        #expect(audit.code == 0, "\(audit.all)")
        let events = (try? JSON.decode([AuditEvent].self, from: Data(audit.stdout.utf8), file: "audit")) ?? []
        let phases = Set(events.map { "\($0.hook).\($0.phase)" })
        for p in ["master_ip_failover.stopssh", "shutdown_script.stopssh", "master_ip_failover.start", "report_script.report",
                  "worker.after-stop", "worker.after-report"] {
            #expect(phases.contains(p), "audit lacks \(p): \(phases.sorted())")
        }
        let managerLog = (try? String(contentsOfFile: sandbox.managerLog, encoding: .utf8)) ?? ""
        #expect(managerLog.contains("\(Self.hooksDir)/master_ip_failover"), "MHA did not run the installed master_ip_failover")
        // The report's full backup on the new timeline, taken by the installed worker.
        #expect(Harness.shared.wait(180, every: 1) {
            let l = (try? Self.run(["/usr/bin/mha-backup", "list", "--json"], env: env))?.stdout ?? ""
            let all = (try? JSON.decode([Manifest].self, from: Data(l.utf8), file: "list")) ?? []
            return all.contains { $0.status == .complete && $0.sourceHost != "127.0.0.\(Self.base + 1)" && ($0.timeline ?? 0) >= 2 }
        }, "no complete backup on the new timeline")
        let down = try Self.run(sb + ["down"] + where_, timeout: 120)
        #expect(down.code == 0, "sandbox down: \(down.all)")
        let left = try Self.run(["pgrep", "-af", "\(Self.root)/|masterha_manager --conf=\(Self.root)"])
        #expect(left.code == 1 && left.stdout.isEmpty, "processes left: \(left.stdout)")

        // An upgrade: a conffile the admin edited is kept (the new one beside it as .dpkg-dist), one
        // left as shipped takes the new version; both stay 0600.
        let client = "/etc/mha-backup/client.cnf", cnf = "/etc/mha-backup/mha-backup.cnf"
        try String(contentsOfFile: client, encoding: .utf8).appending("# edited by the admin\n")
            .write(toFile: client, atomically: false, encoding: .utf8)
        let next = "/tmp/mha-backup-package-upgrade"
        _ = try Self.run(["rm", "-rf", next])
        try FileManager.default.createDirectory(atPath: next, withIntermediateDirectories: true)
        defer { _ = try? Self.run(["rm", "-rf", next]) }
        let x = try Self.run(["dpkg-deb", "-R", deb, "\(next)/root"], timeout: 300)
        try #require(x.code == 0, "dpkg-deb -R: \(x.all)")
        let control = "\(next)/root/DEBIAN/control"
        try String(contentsOfFile: control, encoding: .utf8)
            .replacingOccurrences(of: "\nVersion: \(version)\n", with: "\nVersion: \(version)+upgradetest\n")
            .write(toFile: control, atomically: false, encoding: .utf8)
        for f in [cnf, client] {
            let path = "\(next)/root\(f)"
            try String(contentsOfFile: path, encoding: .utf8).appending("# new in the next version\n")
                .write(toFile: path, atomically: false, encoding: .utf8)
        }
        let b = try Self.run(["dpkg-deb", "--root-owner-group", "-Zzstd", "-z1", "--build", "\(next)/root", "\(next)/next.deb"], timeout: 600)
        try #require(b.code == 0, "dpkg-deb --build: \(b.all)")
        let upg = try Self.run(["dpkg", "-i", "--force-confdef", "--force-confold", "\(next)/next.deb"], timeout: 600)
        #expect(upg.code == 0, "dpkg -i (upgrade): \(upg.all)")
        let ver = try Self.run(["dpkg-query", "-W", "-f=${Version}", "mha-backup"])
        #expect(ver.stdout == "\(version)+upgradetest", "\(ver.all)")
        let clientNow = (try? String(contentsOfFile: client, encoding: .utf8)) ?? ""
        #expect(clientNow.contains("# edited by the admin") && !clientNow.contains("# new in the next version"), "client.cnf: \(clientNow)")
        #expect(((try? String(contentsOfFile: client + ".dpkg-dist", encoding: .utf8)) ?? "").contains("# new in the next version"))
        #expect(((try? String(contentsOfFile: cnf, encoding: .utf8)) ?? "").contains("# new in the next version"), "mha-backup.cnf was not upgraded")
        for f in [cnf, client] { #expect(Self.mode(f) == "600", "\(f) after the upgrade: \(Self.mode(f))") }

        // Remove: only /etc/mha-backup and its conffiles stay.
        let rm = try Self.run(["dpkg", "-r", "mha-backup"], timeout: 300)
        #expect(rm.code == 0, "dpkg -r: \(rm.all)")
        let st = try Self.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "mha-backup"])
        #expect(st.stdout.hasPrefix("rc"), "status after dpkg -r: \(st.all)")
        let keep = Set(["/etc/mha-backup"] + Self.conffiles)
        let leftAfterRemove = ours.filter { Self.exists($0) && !keep.contains($0) }
        #expect(leftAfterRemove.isEmpty, "left after dpkg -r: \(leftAfterRemove)")
        for k in keep { #expect(Self.exists(k), "dpkg -r removed \(k)") }

        // Purge: nothing of ours stays.
        let purge = try Self.run(["dpkg", "-P", "mha-backup"], timeout: 300)
        #expect(purge.code == 0, "dpkg -P: \(purge.all)")
        let leftAfterPurge = ours.filter(Self.exists)
        #expect(leftAfterPurge.isEmpty, "left after dpkg -P: \(leftAfterPurge)")
        #expect(!Self.exists("/etc/mha-backup"))
        let gone = try Self.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "mha-backup"])
        #expect(!gone.stdout.hasPrefix("rc") && !gone.stdout.hasPrefix("ii"), "status after dpkg -P: \(gone.all)")
    }
}
