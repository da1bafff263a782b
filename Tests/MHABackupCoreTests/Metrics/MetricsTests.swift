import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("Prometheus text format and the metrics computed from local state")
struct MetricsTests {
    @Test("label values escape backslash, double quote and line feed; HELP escapes backslash and line feed only")
    func escaping() {
        #expect(PromText.escapeLabel(#"a\b"#) == #"a\\b"#)
        #expect(PromText.escapeLabel(#"say "hi""#) == #"say \"hi\""#)
        #expect(PromText.escapeLabel("two\nlines") == #"two\nlines"#)
        #expect(PromText.escapeLabel("plain-é_1:2") == "plain-é_1:2")
        #expect(PromText.escapeHelp("a \"quoted\" \\ and\nnewline") == #"a "quoted" \\ and\nnewline"#)
        let text = PromText.render([MetricFamily("m", .gauge, "h", [.init([("cluster", "x\"y\\z\nw")], 1)])])
        #expect(text.contains(#"m{cluster="x\"y\\z\nw"} 1"#), "\(text)")
        #expect(text.split(separator: "\n").count == 3, "a label value's line feed must not break the line: \(text)")
    }

    @Test("one HELP and one TYPE line a family, families of one name merged, empty ones left out")
    func oneHelpAndTypePerFamily() {
        let text = PromText.render([
            MetricFamily("a_total", .counter, "first", [.init([("k", "1")], 1)]),
            MetricFamily("b", .gauge, "empty"),
            MetricFamily("a_total", .counter, "second", [.init([("k", "2")], 2)]),
        ])
        #expect(text == """
        # HELP a_total first
        # TYPE a_total counter
        a_total{k="1"} 1
        a_total{k="2"} 2

        """)
    }

    @Test("values: whole numbers plain, fractions as Double prints them, NaN and infinities spelled as Prometheus does")
    func values() {
        #expect(PromText.format(0) == "0")
        #expect(PromText.format(93_600) == "93600")
        #expect(PromText.format(1_796_159_738.5) == "1796159738.5")
        #expect(PromText.format(0.25) == "0.25")
        #expect(PromText.format(.nan) == "NaN")
        #expect(PromText.format(.infinity) == "+Inf")
        #expect(PromText.format(-.infinity) == "-Inf")
        #expect(PromText.format(1e300).contains("e+300"))
    }

    @Test("[metrics]: metrics_file must be an absolute .prom path; the cluster defaults to the MHA app's name")
    func settings() throws {
        let base = "[mha-backup]\nmha_conf = /etc/masterha/app1.cnf\ncredentials = /etc/mha-backup/client.cnf\n"
        let c = try BackupConfig.parse(try INIFile.parse(base + "[metrics]\nmetrics_file = /var/lib/prometheus/node-exporter/mha_backup.prom\nstream_interval = 30\nfull_window = 0\n", path: "t.cnf", inlineComments: true))
        #expect(c.metrics.file == "/var/lib/prometheus/node-exporter/mha_backup.prom")
        #expect(c.metrics.streamInterval == 30)
        #expect(c.metrics.fullWindow == nil)
        #expect(MetricsCollector(config: c, now: Date()).cluster == "app1")
        let plain = try BackupConfig.parse(try INIFile.parse(base, path: "t.cnf", inlineComments: true))
        #expect(plain.metrics.file == nil && plain.metrics.fullWindow == 93_600)
        let e = mbError { _ = try BackupConfig.parse(try INIFile.parse(base + "[metrics]\nmetrics_file = /tmp/mha_backup.txt\n", path: "t.cnf", inlineComments: true)) }
        #expect(e?.code == .config && e?.message.contains("t.cnf:5") == true, "\(String(describing: e))")
        #expect(MetricsSettings.appName(mhaConf: "/etc/mha/app.conf") == "app")
    }

    static func manifest(_ id: String, _ type: BackupType, _ status: BackupStatus, started: Date, seconds: Double, bytes: Int64) -> Manifest {
        var m = Manifest(id: id, type: type, method: .mariabackup, status: status, sourceHost: "db2", sourcePort: 3306,
                         sourceRole: "replica", startedAt: started, compression: .zstd)
        m.finishedAt = started.addingTimeInterval(seconds)
        m.durationSeconds = seconds
        m.compressedBytes = bytes
        m.files = [ManifestFile(name: "backup.xbstream.zst", size: bytes, sha256: String(repeating: "0", count: 64))]
        return m
    }

    @Test("from a store of fulls (two complete, a failed, a corrupt one), a fence and a failover: last, average, ratio, corrupt, fence, failover duration")
    func collected() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let ini = try INIFile.parse("""
        [mha-backup]
        mha_conf = /etc/masterha/app1.cnf
        credentials = /etc/mha-backup/client.cnf
        state_dir = \(tmp.path)/state
        store_dir = \(tmp.path)/store
        [metrics]
        metrics_file = \(tmp.path)/out/mha_backup.prom
        cluster = prod "eu"
        """, path: "t.cnf", inlineComments: true)
        let config = try BackupConfig.parse(ini)
        let catalog = Catalog(dir: config.backupsDir)
        let day: TimeInterval = 86_400
        try catalog.commit(Self.manifest("a-old", .full, .complete, started: now - 10 * day, seconds: 100, bytes: 1000))
        try catalog.commit(Self.manifest("b-mid", .full, .complete, started: now - 3 * day, seconds: 300, bytes: 3000))
        try catalog.write(Self.manifest("c-fail", .full, .failed, started: now - 2 * day, seconds: 5, bytes: 0))
        try catalog.commit(Self.manifest("d-new", .full, .complete, started: now - 3600, seconds: 900, bytes: 9000))
        // d-new's last verify found a damaged file.
        let record = VerifyRecord(kind: .backup, id: "d-new", level: .files, ok: false,
                                  problems: [VerifyProblem(file: "x", reason: "sha256 differs")], files: 1, seconds: 1,
                                  checkedAt: now - 60, notes: [], restore: nil)
        try AtomicFile.write(JSON.encode(record), to: catalog.folder("d-new") + "/verify.json")
        try Fence.raise(at: config.fencePath, failoverId: "fo-1", reason: "test", ttl: 60, now: now - 120)
        let store = FailoverStore(stateDir: config.stateDir, clock: Clock(now: { now - 500 }))
        let (fo, _) = try store.openOrCreate(kind: .failover, deadMaster: HookServer(host: "db1", ip: "10.0.0.1", port: 3306), newMaster: nil)
        try store.update(fo.id) { $0.status = .succeeded; $0.closedAt = now - 458 }

        // The folder is node_exporter's (its package makes it): never created by us.
        try FileManager.default.createDirectory(atPath: tmp.path + "/out", withIntermediateDirectories: false)
        try MetricsWriter.write(config: config, now: now)
        let text = try String(contentsOfFile: tmp.path + "/out/mha_backup.prom", encoding: .utf8)
        let c = #"cluster="prod \"eu\"""#
        for line in [
            "mha_backup_last_success_timestamp_seconds{\(c),type=\"full\"} \(Int(now.timeIntervalSince1970) - 3600 + 900)",
            "mha_backup_last_success_duration_seconds{\(c),type=\"full\"} 900",
            "mha_backup_average_duration_seconds{\(c),type=\"full\"} 200",
            "mha_backup_average_size_bytes{\(c),type=\"full\"} 2000",
            "mha_backup_last_attempt_failed{\(c),type=\"full\"} 0",
            // 7 days: b-mid, c-fail, d-new; 24 h: d-new only; 30 days: all four.
            "mha_backup_success_ratio{\(c),type=\"full\",window=\"24h\"} 1",
            "mha_backup_success_ratio{\(c),type=\"full\",window=\"30d\"} 0.75",
            "mha_backup_corrupt_backups{\(c)} 1",
            "mha_backup_last_verify_ok{\(c),type=\"full\",level=\"files\"} 0",
            "mha_backup_fence_up{\(c)} 1",
            "mha_backup_fence_stale{\(c)} 1",
            "mha_backup_failovers_total{\(c),kind=\"failover\"} 1",
            "mha_backup_last_failover_duration_seconds{\(c),kind=\"failover\"} 42",
            "mha_backup_metrics_generated_timestamp_seconds{\(c)} 1800000000",
        ] {
            #expect(text.contains(line + "\n"), "missing \(line)")
        }
        #expect(text.contains("mha_backup_success_ratio{\(c),type=\"full\",window=\"7d\"} 0.666"))
        #expect(!text.contains("type=\"incremental\"} "), "no incremental ever ran: no last/average series for it")
        // Every family: valid name with our prefix, exactly one HELP and one TYPE, before its samples.
        var help: [String: Int] = [:], type: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if line.hasPrefix("# HELP ") { help[String(parts[2]), default: 0] += 1; continue }
            if line.hasPrefix("# TYPE ") { type[String(parts[2]), default: 0] += 1; continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            #expect(help[name] == 1 && type[name] == 1, "\(name): sample before or without its HELP/TYPE")
            #expect(name.hasPrefix("mha_backup_") && PromText.isValidName(name))
        }
        #expect(help == type && help.values.allSatisfy { $0 == 1 })
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/out/.mha_backup.prom.tmp"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: tmp.path + "/out")
        #expect(leftovers == ["mha_backup.prom"], "temp files left: \(leftovers)")
    }

    @Test("a metrics file that cannot be written is a warning, never the caller's failure")
    func unwritable() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        var config = try BackupConfig.parse(try INIFile.parse("[mha-backup]\nmha_conf = /x/app.cnf\ncredentials = /x/c.cnf\nstate_dir = \(tmp.path)/s\nstore_dir = \(tmp.path)/st\n", path: "t.cnf", inlineComments: true))
        config.metrics.file = tmp.path + "/no/such/folder/m.prom"
        MetricsWriter.refresh(config, after: "test")
        #expect(throws: MBError.self) { try MetricsWriter.write(config: config, now: Date()) }
    }
}
