import Foundation
import MHABackupBase
import MHABackupCore
import Testing

@Suite("tiers: config, rclone environment, planning")
struct TierUnitTests {
    static func ini(_ text: String) throws -> INIFile { try INIFile.parse(text, path: "/etc/mha-backup/t.cnf", inlineComments: true) }

    static let both = """
    [tier cold]
    type = s3
    provider = Other
    endpoint = http://127.0.0.68:8333
    access_key_id = AK
    secret_access_key = SECRET-1
    path = bucket/cluster1/
    [tier warm]
    type = sftp
    host = backup1
    user = mhab
    key_file = /etc/mha-backup/tier_key
    path = /srv/backups
    after = 12h
    """

    @Test("sections parse in tier order with defaults, durations and the backend's keys")
    func parses() throws {
        let t = try TierSettings.parse(try Self.ini(Self.both))
        #expect(t.map(\.name) == ["warm", "cold"])
        #expect(t[0].after == 43_200 && t[0].keep == 30 * 86_400)
        #expect(t[1].after == 30 * 86_400 && t[1].keep == 365 * 86_400)
        #expect(t[1].path == "bucket/cluster1")
        #expect(t[1].backend["secret_access_key"] == "SECRET-1" && t[1].backend["path"] == nil)
        #expect(t[1].remote("backups/X/f") == "cold:bucket/cluster1/backups/X/f")
        #expect(TierSettings.parseDuration("7d") == 604_800 && TierSettings.parseDuration("0") == 0 && TierSettings.parseDuration("90") == 90)
        #expect(TierSettings.parseDuration("7w") == nil && TierSettings.parseDuration("") == nil && TierSettings.parseDuration("-1d") == nil)
    }

    @Test("a bad tier section is one config error naming file and line", arguments: [
        ("[tier hot]\ntype = s3\npath = b", "unknown tier 'hot'"),
        ("[tier warm]\npath = b", "needs 'type'"),
        ("[tier warm]\ntype = s3", "needs 'path'"),
        ("[tier warm]\ntype = s3\npath = b/../c", "needs 'path'"),
        ("[tier warm]\ntype = s3\npath = b\nafter = soon", "'after' in [tier warm] must be a duration"),
        ("[tier warm]\ntype = s3\npath = b\nAccess-Key = x", "must be a lowercase rclone option name"),
        ("[tier warm]\ntype = s3\npath = b\nafter = 40d\n[tier cold]\ntype = s3\npath = c\nafter = 30d", "'after' must not be shorter"),
    ])
    func rejects(_ text: String, _ expected: String) throws {
        do {
            _ = try TierSettings.parse(try Self.ini(text))
            Issue.record("accepted: \(text)")
        } catch let e as MBError {
            #expect(e.code == .config)
            #expect(e.message.contains(expected) && e.message.hasPrefix("/etc/mha-backup/t.cnf"), "\(e.message)")
        }
    }

    @Test("the whole config accepts [tier …] sections without unknown-key warnings")
    func inBackupConfig() throws {
        var warnings: [String] = []
        let text = "[mha-backup]\nmha_conf = /etc/masterha/app1.cnf\ncredentials = /etc/mha-backup/c.cnf\n" + Self.both
        let c = try BackupConfig.parse(try Self.ini(text)) { warnings.append($0) }
        #expect(c.tiers.map(\.name) == ["warm", "cold"])
        #expect(warnings.isEmpty, "\(warnings)")
    }

    @Test("rclone's environment is built from the section alone: nothing inherited, config file off")
    func environment() throws {
        let cold = try TierSettings.parse(try Self.ini(Self.both))[1]
        let env = cold.rcloneEnvironment(home: "/var/lib/mha-backup/state/rclone-home")
        #expect(env["RCLONE_CONFIG"] == "/dev/null")
        #expect(env["HOME"] == "/var/lib/mha-backup/state/rclone-home")
        #expect(env["RCLONE_CONFIG_COLD_TYPE"] == "s3")
        #expect(env["RCLONE_CONFIG_COLD_SECRET_ACCESS_KEY"] == "SECRET-1")
        #expect(env["AWS_CA_BUNDLE"] == nil && env["RCLONE_CONFIG_COLD_PATH"] == nil)
        #expect(Set(env.keys) == ["PATH", "HOME", "RCLONE_CONFIG", "LC_ALL", "RCLONE_CONFIG_COLD_TYPE", "RCLONE_CONFIG_COLD_PROVIDER",
                                  "RCLONE_CONFIG_COLD_ENDPOINT", "RCLONE_CONFIG_COLD_ACCESS_KEY_ID", "RCLONE_CONFIG_COLD_SECRET_ACCESS_KEY"])
    }

    @Test("rclone runs with a cleared environment and no secret on its argv")
    func command() throws {
        let cold = try TierSettings.parse(try Self.ini(Self.both))[1]
        let r = Rclone(tier: cold, home: NSTemporaryDirectory() + "mhab-rclone-home-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: r.home) }
        guard ProcessRunner.which("rclone") != nil else {
            Issue.record("program 'rclone' not found: install the Debian package 'rclone'")
            return
        }
        let c = try r.command(["copyto", "/tmp/a", cold.remote("b")])
        #expect(c.clearEnvironment)
        #expect(!c.argv.joined(separator: " ").contains("SECRET-1"))
        #expect(c.argv.contains("--retries") && c.argv.contains("--contimeout"))
    }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static func item(_ id: String, days: Double, hot: Bool = true, on copies: [String] = []) -> TierItem {
        TierItem(kind: .backup(id: id), committedAt: now.addingTimeInterval(-days * 86_400), hot: hot,
                 copies: copies.map { TierCopy(tier: $0, remotePath: "backups/\(id)", verifiedAt: now) })
    }

    @Test("planning: the deepest tier the age has reached, from hot or the tier above, then remove what is above")
    func planning() throws {
        let tiers = try TierSettings.parse(try Self.ini(Self.both.replacingOccurrences(of: "after = 12h", with: "after = 7d")))
        let items = [
            Self.item("young", days: 1),
            Self.item("week", days: 8),
            Self.item("month", days: 31),
            Self.item("warm-only", days: 31, hot: false, on: ["warm"]),
            Self.item("done", days: 40, hot: false, on: ["cold"]),
            Self.item("fetched", days: 40, hot: true, on: ["cold"]),
            Self.item("lost", days: 40, hot: false),
        ]
        let (moves, notes) = TierPlanner.plan(items, tiers: tiers, now: Self.now)
        let byId = Dictionary(uniqueKeysWithValues: moves.map { m -> (String, TierMove) in
            if case .backup(let id) = m.item.kind { return (id, m) }
            return ("?", m)
        })
        #expect(byId["young"] == nil && byId["done"] == nil)
        #expect(byId["week"]?.target == "warm" && byId["week"]?.source == .hot && byId["week"]?.removeHot == true)
        #expect(byId["month"]?.target == "cold" && byId["month"]?.source == .hot)
        #expect(byId["warm-only"]?.source == .tier("warm") && byId["warm-only"]?.removeTiers == ["warm"] && byId["warm-only"]?.removeHot == false)
        #expect(byId["fetched"]?.source == .alreadyThere && byId["fetched"]?.removeHot == true)
        #expect(notes.count == 1 && notes[0].contains("lost"))
        // --tier warm: never deeper than warm.
        let limited = TierPlanner.plan(items, tiers: tiers, now: Self.now, limit: "warm").moves
        #expect(limited.allSatisfy { $0.target == "warm" })
        #expect(!limited.contains { if case .backup("warm-only") = $0.item.kind { return true }; return false })
    }

    @Test("manifests and binlog indexes written before tiers still decode")
    func oldRecordsDecode() throws {
        let idx = #"{"version":1,"host":"db1","port":3306,"files":[{"name":"mysql-bin.000001","size":10,"sha256":"00","archivedAt":"2026-11-25T10:00:00Z","sourceHost":"db1","sourcePort":3306,"via":"ssh"}]}"#
        let i = try JSON.decode(BinlogIndex.self, from: Data(idx.utf8), file: "index.json")
        #expect(i.files[0].tiers == nil)
    }

    @Test("a binlog on a tier only (hot file gone, .sha256 kept) still counts as archived and stays in the index")
    func offloadedBinlog() throws {
        let dir = NSTemporaryDirectory() + "mhab-tier-unit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = BinlogArchive(dir: dir, host: "db1", port: 3306)
        try a.prepare()
        let bytes = Data(repeating: 7, count: 1000)
        let sha = SHA256Hasher.hex(of: bytes)
        try AtomicFile.write(bytes, to: a.path("mysql-bin.000001"), mode: 0o640)
        try AtomicFile.write(BinlogChecksumFile.format(sha256: sha, name: "mysql-bin.000001"), to: a.checksumPath("mysql-bin.000001"), mode: 0o640)
        try a.prepare()
        #expect(throws: MBError.self) { try a.removeHotCopy("mysql-bin.000001") }  // no remote copy yet
        try a.recordTiers("mysql-bin.000001", [TierCopy(tier: "warm", remotePath: "binlogs/db1_3306/mysql-bin.000001", verifiedAt: Self.now)])
        try a.removeHotCopy("mysql-bin.000001")
        #expect(!FileManager.default.fileExists(atPath: a.path("mysql-bin.000001")))
        try a.prepare()
        let idx = try a.loadIndex()
        #expect(idx.entry("mysql-bin.000001")?.tiers?.first?.tier == "warm")
        #expect(a.state(of: "mysql-bin.000001", index: idx) == .complete(sha256: sha, size: 1000))
    }
}

@Suite("tiers: recording a copy in the catalog")
struct TierCatalogTests {
    @Test("recordTiers keeps the backup complete, also when interrupted between the manifest and the marker")
    func crashSafeRecord() throws {
        let dir = NSTemporaryDirectory() + "mhab-tier-cat-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = Catalog(dir: dir)
        let m = Manifest(id: "20261125T143553Z-full-a1b2c3", type: .full, method: .mariabackup, status: .running, sourceHost: "db2",
                         sourcePort: 3306, sourceRole: "replica", startedAt: Date(timeIntervalSince1970: 1_800_000_000), compression: .zstd,
                         files: [ManifestFile(name: "backup.xb.zst", size: 3, sha256: String(repeating: "a", count: 64))])
        try c.commit(m)
        let copy = TierCopy(tier: "warm", remotePath: "backups/\(m.id)", verifiedAt: Date(timeIntervalSince1970: 1_800_000_100))
        let after = try c.recordTiers(m.id, [copy])
        #expect(after.tiers == [copy])
        #expect(try c.load(m.id).status == .complete && (try c.load(m.id).tiers) == [copy])
        #expect(!FileManager.default.fileExists(atPath: "\(c.folder(m.id))/COMMITTED.next"))
        // The crash: the new manifest and COMMITTED.next are on disk, the old marker not yet replaced.
        let oldMarker = try String(contentsOfFile: "\(c.folder(m.id))/COMMITTED", encoding: .utf8)
        var m2 = after
        m2.tiers = [TierCopy(tier: "cold", remotePath: "backups/\(m.id)", verifiedAt: copy.verifiedAt)]
        let data = try JSON.encode(m2)
        try AtomicFile.write("sha256 \(SHA256Hasher.hex(of: data))\n", to: "\(c.folder(m.id))/COMMITTED.next", mode: 0o640)
        try AtomicFile.write(data, to: "\(c.folder(m.id))/manifest.json", mode: 0o640)
        #expect(try String(contentsOfFile: "\(c.folder(m.id))/COMMITTED", encoding: .utf8) == oldMarker)
        let loaded = try c.load(m.id)
        #expect(loaded.status == .complete && loaded.tiers?.first?.tier == "cold")
        // A manifest changed by anything else is still not complete.
        var m3 = m2
        m3.sourceHost = "db9"
        try AtomicFile.write(try JSON.encode(m3), to: "\(c.folder(m.id))/manifest.json", mode: 0o640)
        #expect(try c.load(m.id).status == .partial)
    }
}
