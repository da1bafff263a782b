import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// Prometheus metrics checked by the real tools: promtool (Debian `prometheus`) on our file, the
/// alert rules, their unit tests and every dashboard expr; a real node_exporter
/// (`prometheus-node-exporter`) scraping the file through its textfile collector.
@Suite("metrics for Prometheus, checked by promtool and node_exporter", .serialized)
struct MetricsIntegrationTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let samples = repo + "/mha-samples"

    /// A missing program fails the test, naming its Debian package.
    static func program(_ name: String, package: String) throws -> String {
        guard let p = ProcessRunner.which(name) else {
            throw MBError(.failed, "\(name) is not installed: apt-get install \(package) (scripts/install-deps does it)")
        }
        return p
    }

    struct Out { var code: Int32; var out: String; var err: String }

    static func run(_ argv: [String], stdinFile: String? = nil, cwd: String? = nil, timeout: TimeInterval = 60) throws -> Out {
        var o = RunOptions(timeout: timeout)
        var fd: Int32 = -1
        if let stdinFile {
            fd = open(stdinFile, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw MBError(.noInput, "cannot open \(stdinFile)") }
            o.stdin = .fd(fd)
        }
        defer { if fd >= 0 { close(fd) } }
        o.workingDirectory = cwd
        let r = try ProcessRunner().runPipeline([Command(argv)], options: o)
        return Out(code: r.stages[0].exitCode ?? -1, out: r.stdoutString, err: r.stages[0].stderr)
    }

    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "mha-backup-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return d
    }

    /// The sandbox's config plus `[metrics] metrics_file = DIR/mha_backup.prom` (mode 0600, as required).
    static func metricsConfig(_ h: Harness, dir: String, extra: String = "") throws -> String {
        let text = try String(contentsOfFile: h.config, encoding: .utf8) + "\n[metrics]\nmetrics_file = \(dir)/mha_backup.prom\ncluster = sandbox \"\(Harness.base)\"\n" + extra
        let path = dir + "/../" + (dir as NSString).lastPathComponent + ".cnf"
        try AtomicFile.write(text, to: path, mode: 0o600)
        return path
    }

    /// Every `mha_backup_…` name an expression uses (recording-rule names of our own test left out).
    static func metricNames(in text: String) -> Set<String> {
        Set(text.matches(of: /mha_backup_[a-z0-9_]+/).map { String($0.output) }.filter { !$0.hasPrefix("mha_backup_dashboard") })
    }

    static func dashboardExprs() throws -> [String] {
        let data = try #require(FileManager.default.contents(atPath: samples + "/grafana/mha-backup.json"))
        let dash = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dash["panels"] as? [[String: Any]])
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    @Test("alerts.yml passes 'promtool check rules', and alerts_test.yml ('promtool test rules') fires and quiets every rule")
    func rules() throws {
        let promtool = try Self.program("promtool", package: "prometheus")
        let dir = Self.samples + "/prometheus"
        let check = try Self.run([promtool, "check", "rules", dir + "/alerts.yml"])
        #expect(check.code == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains("SUCCESS: 13 rules found"), "\(check.out)")
        let test = try Self.run([promtool, "test", "rules", dir + "/alerts_test.yml"], cwd: dir)
        #expect(test.code == 0 && test.out.contains("SUCCESS"), "\(test.out)\(test.err)")
        // Every alert is named by a test that expects it to fire, and every test file rule exists.
        let rules = try String(contentsOfFile: dir + "/alerts.yml", encoding: .utf8)
        let tests = try String(contentsOfFile: dir + "/alerts_test.yml", encoding: .utf8)
        let alerts = Set(rules.matches(of: /- alert: (\w+)/).map { String($0.output.1) })
        let tested = Set(tests.matches(of: /alertname: (\w+)/).map { String($0.output.1) })
        #expect(alerts.count == 13 && alerts == tested, "untested: \(alerts.subtracting(tested)), unknown: \(tested.subtracting(alerts))")
        // A broken threshold is caught: the tests are not a tautology.
        let tmp = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try rules.replacingOccurrences(of: "> 0.90\n", with: "> 0.96\n").write(toFile: tmp + "/alerts.yml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: dir + "/alerts_test.yml", toPath: tmp + "/alerts_test.yml")
        let broken = try Self.run([promtool, "test", "rules", tmp + "/alerts_test.yml"], cwd: tmp)
        #expect(broken.code != 0 && (broken.out + broken.err).contains("MhaBackupStorageCritical"), "\(broken.out)\(broken.err)")
    }

    @Test("every expr of the Grafana dashboard passes 'promtool check rules' as a recording rule")
    func dashboard() throws {
        let promtool = try Self.program("promtool", package: "prometheus")
        let exprs = try Self.dashboardExprs()
        #expect(exprs.count >= 20)
        let tmp = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        var yaml = "groups:\n  - name: mha-backup-dashboard\n    rules:\n"
        for (i, e) in exprs.enumerated() {
            #expect(e.contains("mha_backup_"), "\(e)")
            // Grafana's variable becomes a regex that matches any cluster; JSON strings are valid YAML.
            let expr = e.replacingOccurrences(of: "$cluster", with: ".*")
            let quoted = String(decoding: try JSONSerialization.data(withJSONObject: [expr], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast()
            yaml += "      - record: mha_backup_dashboard:expr_\(i)\n        expr: \(quoted)\n"
        }
        try yaml.write(toFile: tmp + "/dashboard-rules.yml", atomically: true, encoding: .utf8)
        let r = try Self.run([promtool, "check", "rules", tmp + "/dashboard-rules.yml"])
        #expect(r.code == 0 && r.out.contains("SUCCESS: \(exprs.count) rules found"), "\(r.out)\(r.err)")
        // A broken expr is caught.
        try (yaml + "      - record: mha_backup_dashboard:broken\n        expr: \"sum(mha_backup_jobs\"\n").write(toFile: tmp + "/broken.yml", atomically: true, encoding: .utf8)
        #expect(try Self.run([promtool, "check", "rules", tmp + "/broken.yml"]).code != 0)
    }

    @Test("after a full backup and a verify on the sandbox: the file passes 'promtool check metrics', and every series the rules and the dashboard use is one we export")
    func fileFromSandbox() throws {
        let promtool = try Self.program("promtool", package: "prometheus")
        let h = try requireSandbox()
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: dir + ".cnf") }
        let cnf = try Self.metricsConfig(h, dir: dir)
        let file = dir + "/mha_backup.prom"
        let b = try h.run(["--config", cnf, "backup", "full", "--json"], timeout: 600)
        #expect(b.code == 0, "\(b.stderr)")
        let m = try JSON.decode(Manifest.self, from: Data(b.stdout.utf8), file: "stdout")
        let afterBackup = try String(contentsOfFile: file, encoding: .utf8)
        #expect(afterBackup.contains("mha_backup_last_success_size_bytes{cluster=\"sandbox \\\"\(Harness.base)\\\"\",type=\"full\"} \(m.compressedBytes)\n"), "\(afterBackup)")
        let v = try h.run(["--config", cnf, "verify", m.id, "--level", "files"])
        #expect(v.code == 0, "\(v.stderr)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("mha_backup_last_verify_ok{cluster=\"sandbox \\\"\(Harness.base)\\\"\",type=\"full\",level=\"files\"} 1\n"), "\(text)")
        let check = try Self.run([promtool, "check", "metrics"], stdinFile: file)
        #expect(check.code == 0 && check.out.isEmpty && check.err.isEmpty, "promtool: \(check.out)\(check.err)")
        // The command itself, and what it prints.
        let cmd = try h.run(["--config", cnf, "metrics"])
        #expect(cmd.code == 0 && cmd.stdout == "metrics written to \(file)\n", "\(cmd.stdout)\(cmd.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["mha_backup.prom"])

        // Every name the rules and the dashboard use is a family the collector knows.
        let exported = Set(MetricsCollector(config: try BackupConfig.load(cnf), now: Date()).collect().map(\.name))
        let used = Self.metricNames(in: try String(contentsOfFile: Self.samples + "/prometheus/alerts.yml", encoding: .utf8))
            .union(Self.metricNames(in: try Self.dashboardExprs().joined(separator: "\n")))
        #expect(used.subtracting(exported).isEmpty, "used but never exported: \(used.subtracting(exported).sorted())")
        #expect(used.count >= 25)
    }

    @Test("a real node_exporter on a loopback port reads our file (not our temp file): node_textfile_scrape_error 0 and our series; a broken .prom gives 1")
    func nodeExporter() throws {
        let exporter = try Self.program("prometheus-node-exporter", package: "prometheus-node-exporter")
        let curl = try Self.program("curl", package: "curl")
        let h = try requireSandbox()
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: dir + ".cnf") }
        let cnf = try Self.metricsConfig(h, dir: dir)
        let w = try h.run(["--config", cnf, "metrics"])
        #expect(w.code == 0, "\(w.stderr)")

        // A half-written temp file of ours (the name AtomicFile gives it) is not read: only *.prom is.
        try "mha_backup_half{ 1\n".write(toFile: dir + "/.mha_backup.prom.tmp.1.2", atomically: false, encoding: .utf8)
        let port = try Self.freePort()
        let pid = try ProcessRunner.spawnDetached(Command([exporter, "--collector.disable-defaults", "--collector.textfile",
                                                           "--collector.textfile.directory=\(dir)", "--web.listen-address=127.0.0.1:\(port)"]),
                                                  logFile: dir + ".exporter.log")
        defer {
            kill(pid, SIGTERM)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            try? FileManager.default.removeItem(atPath: dir + ".exporter.log")
        }
        func scrape() throws -> String {
            try Self.run([curl, "-sS", "--max-time", "5", "http://127.0.0.1:\(port)/metrics"]).out
        }
        let up = h.wait(10, every: 0.1) { ((try? scrape()) ?? "").contains("node_textfile_scrape_error") }
        let log = (try? String(contentsOfFile: dir + ".exporter.log", encoding: .utf8)) ?? ""
        try #require(up, "node_exporter did not answer on 127.0.0.1:\(port): \(log)")
        let body = try scrape()
        #expect(body.contains("\nnode_textfile_scrape_error 0\n"), "\(body)")
        for name in ["mha_backup_metrics_generated_timestamp_seconds", "mha_backup_storage_free_bytes", "mha_backup_fence_up",
                     "mha_backup_jobs", "mha_backup_failovers_total"] {
            #expect(body.contains("\n\(name){cluster=\"sandbox \\\"\(Harness.base)\\\"\""), "\(name) not in the scrape")
        }
        #expect(body.contains("node_textfile_mtime_seconds{file=\"\(dir)/mha_backup.prom\"}") || body.contains("node_textfile_mtime_seconds{file=\"mha_backup.prom\"}"),
                "the collector names our file")
        // The check can fail: a malformed .prom beside ours makes the collector report an error.
        try "mha_backup_broken{ 1\n".write(toFile: dir + "/broken.prom", atomically: false, encoding: .utf8)
        #expect(try scrape().contains("\nnode_textfile_scrape_error 1\n"))
    }

    @Test("the live stream writes the file while it runs (stream up, lag of the current master) and once more when it stops (stream down)")
    func stream() throws {
        let h = try requireSandbox()
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: dir + ".cnf") }
        let cnf = try Self.metricsConfig(h, dir: dir, extra: "stream_interval = 1\n")
        let file = dir + "/mha_backup.prom"
        let cluster = "cluster=\"sandbox \\\"\(Harness.base)\\\"\""
        _ = try h.sandbox.sql(host: try h.master(), "INSERT INTO lab.t (v) VALUES ('metrics-stream')")
        let pid = try ProcessRunner.spawnDetached(Command([h.binary, "--config", cnf, "binlog", "stream", "--once-seconds", "8"]),
                                                  logFile: dir + ".stream.log")
        defer {
            if ProcessRunner.isAlive(pid) { kill(pid, SIGTERM) }
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            try? FileManager.default.removeItem(atPath: dir + ".stream.log")
        }
        let read = { (try? String(contentsOfFile: file, encoding: .utf8)) ?? "" }
        let up = h.wait(7, every: 0.1) { read().contains("mha_backup_binlog_stream_up{\(cluster)} 1\n") }
        #expect(up, "no 'stream up' while the stream ran: \(read())")
        let master = try h.context().mha.server(named: try h.master())!
        #expect(read().contains("mha_backup_binlog_archive_lag_seconds{\(cluster),source=\"\(master.hostname):\(master.port)\"} "), "\(read())")
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        #expect(read().contains("mha_backup_binlog_stream_up{\(cluster)} 0\n"), "not 'down' after the stream stopped: \(read())")
    }

    @Test("the detached hook worker rewrites the file when it closes a switch: switch counted, its duration, fence down")
    func hookWorker() throws {
        let h = try requireSandbox()
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: dir + ".cnf") }
        // The sandbox's servers, but a state and store of our own (the record, fence and audit stay
        // out of the sandbox), and no full backup after the switch.
        var lines: [String] = []
        for line in try String(contentsOfFile: h.config, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("state_dir") { lines.append("state_dir = \(dir)/state"); continue }
            if line.hasPrefix("store_dir") { lines.append("store_dir = \(dir)/store"); continue }
            lines.append(String(line))
            if line == "[hooks]" { lines.append("full_backup_after_switch = no") }
        }
        lines += ["[metrics]", "metrics_file = \(dir)/mha_backup.prom", "cluster = hook"]
        let cnf = dir + ".cnf"
        try AtomicFile.write(lines.joined(separator: "\n") + "\n", to: cnf, mode: 0o600)
        let config = try BackupConfig.load(cnf)
        let opened = Date().addingTimeInterval(-30)
        let store = FailoverStore(stateDir: config.stateDir, clock: Clock(now: { opened }))
        let (rec, _) = try store.openOrCreate(kind: .switchover, deadMaster: HookServer(host: try h.master(), port: 3306), newMaster: nil)
        try Fence.raise(at: config.fencePath, failoverId: rec.id, reason: "test switch", ttl: 3600, now: opened)
        try MetricsWriter.write(config: config, now: Date())
        let before = try String(contentsOfFile: dir + "/mha_backup.prom", encoding: .utf8)
        #expect(before.contains("mha_backup_fence_up{cluster=\"hook\"} 1\n") && before.contains("mha_backup_failover_open{cluster=\"hook\"} 1\n"), "\(before)")
        try FileManager.default.removeItem(atPath: dir + "/mha_backup.prom")

        let r = try h.run(["--config", cnf, "hook-worker", "after-switch", "--failover", rec.id])
        #expect(r.code == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: dir + "/mha_backup.prom", encoding: .utf8)
        for line in ["mha_backup_failovers_total{cluster=\"hook\",kind=\"switchover\"} 1", "mha_backup_last_failover_succeeded{cluster=\"hook\",kind=\"switchover\"} 1",
                     "mha_backup_fence_up{cluster=\"hook\"} 0", "mha_backup_failover_open{cluster=\"hook\"} 0"] {
            #expect(text.contains(line + "\n"), "missing \(line): \(text)")
        }
        let duration = text.split(separator: "\n").first { $0.hasPrefix("mha_backup_last_failover_duration_seconds{cluster=\"hook\",kind=\"switchover\"} ") }
            .flatMap { Double($0.split(separator: " ").last!) }
        #expect((29...120).contains(duration ?? -1), "duration \(String(describing: duration))")
    }

    /// A loopback port nobody listens on (the kernel picks it; closed again before use).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MBError(.failed, "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw MBError(.failed, "cannot bind a loopback port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
