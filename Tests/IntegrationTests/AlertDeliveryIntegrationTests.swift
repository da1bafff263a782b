import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// A config of its own (no sandbox needed: alerts need no server), real receivers the test starts
/// (a python3 HTTP server that records every POST, python3-aiosmtpd writing a Maildir) and the real
/// delivery path: `alerts raise` or a hook appends the line and spawns the detached deliverer,
/// which runs real curl (through a wrapper that records its argv) and real msmtp.
final class AlertLab {
    let dir: String
    let config: String
    let state: String
    let binDir: String
    let mhaBackup: String
    var pids: [pid_t] = []
    static let urlToken = "URLTOKEN_q7v2k9"
    static let headerToken = "HDRTOKEN_m3x8p1"

    init(alerts: String) throws {
        dir = "/tmp/mhab-alerts-\(UUID().uuidString.prefix(8))"
        state = dir + "/state"
        binDir = dir + "/bin"
        config = dir + "/mha-backup.cnf"
        for d in [state, dir + "/store", binDir] { try AtomicFile.makeDirectory(d, mode: 0o700) }
        try AtomicFile.write("[server default]\nuser=mha\n[server1]\nhostname=127.0.0.1\n[server2]\nhostname=127.0.0.2\n",
                             to: dir + "/app1.cnf", mode: 0o600)
        try AtomicFile.write("[client]\nuser=backup\npassword=x\n", to: dir + "/client.cnf", mode: 0o600)
        try AtomicFile.write("""
            [mha-backup]
            mha_conf = \(dir)/app1.cnf
            credentials = \(dir)/client.cnf
            state_dir = \(state)
            store_dir = \(dir)/store
            [alerts]
            \(alerts)

            """, to: config, mode: 0o600)
        // curl as the deliverer finds it on PATH: records its argv, then runs the real one.
        try AtomicFile.write("#!/bin/sh\nprintf '%s\\n' \"$*\" >> \(dir)/curl-argv.log\nexec /usr/bin/curl \"$@\"\n",
                             to: binDir + "/curl", mode: 0o755)
        let nextToTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mha-backup").path
        mhaBackup = ProcessInfo.processInfo.environment["MHA_BACKUP_BIN"]
            ?? (FileManager.default.isExecutableFile(atPath: nextToTests) ? nextToTests : Harness.shared.binary)
    }

    var env: [String: String] {
        ["PATH": binDir + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
    }

    struct Timed { var code: Int32; var stdout: String; var stderr: String; var seconds: Double }

    /// Runs a built executable (mha-backup or a hook beside it) and times it to its exit.
    func run(_ args: [String]) throws -> Timed { try run("mha-backup", args) }

    func run(_ program: String, _ args: [String], timeout: TimeInterval = 60) throws -> Timed {
        let bin = (mhaBackup as NSString).deletingLastPathComponent + "/" + program
        let t0 = Date()
        let r = try ProcessRunner().run(Command([bin] + args, environment: env), timeout: timeout)
        return Timed(code: r.stages[0].exitCode ?? -1, stdout: r.stdoutString, stderr: r.stages[0].stderr,
                     seconds: Date().timeIntervalSince(t0))
    }

    func raise(_ summary: String, severity: String = "critical", kind: String = "manual", details: String = "d") throws -> Timed {
        try run(["--config", config, "alerts", "raise", "--severity", severity, "--kind", kind, "--summary", summary, "--details", details])
    }

    static func requireProgram(_ path: String, package: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MBError(.unavailable, "\(path) is missing: install the Debian package '\(package)'")
        }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    static let receiverScript = """
        import http.server, json, os, sys, threading, time
        log, port, slow, marker = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
        lock = threading.Lock()
        count = [0]
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0)).decode()
                with lock:
                    count[0] += 1
                    first = count[0] == 1
                    with open(log, 'a') as f:
                        f.write(json.dumps({'path': self.path, 'headers': dict(self.headers), 'body': body}) + '\\n')
                if first and slow > 0:
                    open(marker, 'w').close()
                    time.sleep(slow)
                self.send_response(200)
                self.send_header('Content-Length', '2')
                self.end_headers()
                self.wfile.write(b'ok')
            def log_message(self, *a):
                pass
        s = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)
        s.daemon_threads = True
        s.serve_forever()
        """

    /// A webhook receiver on `port`; the first request sleeps `slowFirst` seconds before answering.
    func startReceiver(port: Int, slowFirst: Double = 0) throws {
        try Self.requireProgram("/usr/bin/python3", package: "python3")
        try AtomicFile.write(Self.receiverScript, to: dir + "/receiver.py", mode: 0o600)
        pids.append(try ProcessRunner.spawnDetached(Command(["/usr/bin/python3", dir + "/receiver.py", dir + "/posts.jsonl", "\(port)",
                                                             "\(slowFirst)", dir + "/sleeping"]), logFile: dir + "/receiver.log"))
        try waitListening(port)
    }

    func startSMTP(port: Int) throws {
        try Self.requireProgram("/usr/bin/python3", package: "python3")
        guard (try? ProcessRunner().run(Command(["/usr/bin/python3", "-c", "import aiosmtpd"]), timeout: 30))?.succeeded == true else {
            throw MBError(.unavailable, "python3 cannot import aiosmtpd: install the Debian package 'python3-aiosmtpd'")
        }
        // aiosmtpd's Mailbox makes the Maildir (and its cur/new/tmp) only when the folder does not exist.
        pids.append(try ProcessRunner.spawnDetached(Command(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)",
                                                             "-c", "aiosmtpd.handlers.Mailbox", dir + "/Maildir"]),
                                                    logFile: dir + "/smtpd.log"))
        try waitListening(port)
    }

    func waitListening(_ port: Int) throws {
        let end = Date().addingTimeInterval(15)
        while Date() < end {
            if TCPProbe.answers(host: "127.0.0.1", port: port, timeout: 0.2) { return }
            usleep(50_000)
        }
        throw MBError(.unavailable, "receiver on port \(port) did not start: \((try? String(contentsOfFile: dir + "/receiver.log", encoding: .utf8)) ?? "")")
    }

    func posts() -> [[String: Any]] {
        guard let t = try? String(contentsOfFile: dir + "/posts.jsonl", encoding: .utf8) else { return [] }
        return t.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func alerts() -> [Alerts.Line] { AlertDeliverer.readAlerts(state + "/alerts.jsonl") }
    func delivery() -> AlertDeliveryState { (try? AlertDeliverer.loadState(state + "/alerts-delivery.json")) ?? AlertDeliveryState() }

    func wait(_ seconds: TimeInterval, _ cond: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if cond() { return true }
            usleep(100_000)
        }
        return cond()
    }

    /// Every process whose command line holds `needle` (from /proc).
    static func processes(containing needle: String) -> [(pid: Int32, cmdline: String)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { n -> (Int32, String)? in
            guard let pid = Int32(n), let d = FileManager.default.contents(atPath: "/proc/\(n)/cmdline"), !d.isEmpty else { return nil }
            let s = String(decoding: d.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return s.contains(needle) ? (pid, s) : nil
        }
    }

    /// Stops the receivers and any deliverer of this lab still sleeping out a backoff.
    func stop() {
        for p in pids { kill(p, SIGKILL); ProcessRunner.reap(p) }
        for p in Self.processes(containing: config) where p.cmdline.contains("alerts deliver") { kill(p.pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite("alert delivery to real receivers: webhook through curl, mail through msmtp", .serialized)
struct AlertDeliveryIntegrationTests {
    @Test("a slow webhook never slows the raise; the POST carries the alert; the tokens never reach argv; retried after a timeout")
    func slowWebhook() throws {
        try AlertLab.requireProgram("/usr/bin/curl", package: "curl")
        let port = AlertLab.freePort()
        let lab = try AlertLab(alerts: """
            webhook_url = http://127.0.0.1:\(port)/hook?token=\(AlertLab.urlToken)
            webhook_headers_file = PLACEHOLDER
            webhook_timeout = 2
            """)
        defer { lab.stop() }
        let hf = lab.dir + "/webhook-headers"
        try AtomicFile.write("Authorization: Bearer \(AlertLab.headerToken)\n", to: hf, mode: 0o600)
        try AtomicFile.write(try String(contentsOfFile: lab.config, encoding: .utf8).replacingOccurrences(of: "PLACEHOLDER", with: hf),
                             to: lab.config, mode: 0o600)
        try lab.startReceiver(port: port, slowFirst: 30)

        let r = try lab.raise("backup full failed on db2", details: "mariabackup exit 1")
        #expect(r.code == 0, "\(r.stderr)")
        #expect(r.seconds < 1, "raising took \(r.seconds) s with a receiver that sleeps 30 s")
        // While curl waits on the sleeping receiver: no process shows a token in its command line.
        #expect(lab.wait(15) { FileManager.default.fileExists(atPath: lab.dir + "/sleeping") }, "the POST never arrived")
        let curls = AlertLab.processes(containing: "curl").filter { $0.cmdline.contains("-K -") }
        #expect(!curls.isEmpty, "no curl running while the receiver sleeps")
        #expect(AlertLab.processes(containing: AlertLab.urlToken).isEmpty)
        #expect(AlertLab.processes(containing: AlertLab.headerToken).isEmpty)
        // A hook raising its own alert meanwhile is not held up either.
        let hook = try lab.run("mha-backup-master-ip-failover", ["--config=\(lab.config)", "--command=stop", "--orig_master_host=made-up.invalid",
                                                                 "--orig_master_ip=made-up.invalid", "--orig_master_port=3306"])
        #expect(hook.seconds < 1, "the hook took \(hook.seconds) s")
        #expect(lab.alerts().contains { $0.kind == AlertKind.unknownHost.rawValue })

        // The first attempt times out (2 s); the retry, 5 s later, is answered.
        let id = try #require(lab.alerts().first?.id)
        #expect(lab.wait(40) { lab.delivery()[id, .webhook]?.status == .sent }, "not delivered: \(String(describing: lab.delivery()[id, .webhook]))")
        let e = lab.delivery()[id, .webhook]
        #expect(e?.attempts == 2, "attempts \(e?.attempts ?? 0)")
        let mine = lab.posts().filter { (($0["body"] as? String) ?? "").contains(id) }
        #expect(mine.count == 2, "one timed-out POST and its retry, got \(mine.count)")
        let post = try #require(mine.last)
        #expect((post["path"] as? String) == "/hook?token=\(AlertLab.urlToken)")
        let headers = post["headers"] as? [String: String] ?? [:]
        #expect(headers["Authorization"] == "Bearer \(AlertLab.headerToken)")
        #expect(headers["Content-Type"] == "application/json")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(((post["body"] as? String) ?? "").utf8)) as? [String: Any])
        #expect(body["severity"] as? String == "critical")
        #expect(body["kind"] as? String == "manual")
        #expect(body["summary"] as? String == "backup full failed on db2")
        #expect(body["details"] as? String == "mariabackup exit 1")
        #expect(body["cluster"] as? String == "app1")
        #expect(body["host"] as? String == Alerts.hostName())
        #expect(body["failover_id"] is NSNull)
        #expect(body["id"] as? String == id)
        #expect((body["time"] as? String)?.hasPrefix("20") == true)
        // curl was only ever given '-K -'; no token in our own files either.
        let argv = try String(contentsOfFile: lab.dir + "/curl-argv.log", encoding: .utf8).split(separator: "\n")
        #expect(!argv.isEmpty && argv.allSatisfy { $0 == "-K -" }, "\(argv)")
        for f in ["alerts.jsonl", "alerts-delivery.json", "alerts-deliver.log", "audit.jsonl"] {
            let t = (try? String(contentsOfFile: lab.state + "/" + f, encoding: .utf8)) ?? ""
            #expect(!t.contains(AlertLab.urlToken) && !t.contains(AlertLab.headerToken), "a token in \(f)")
        }
    }

    @Test("a receiver that is down: the alert stays, is marked failed and retried, and 'alerts deliver' sends it later")
    func downWebhook() throws {
        try AlertLab.requireProgram("/usr/bin/curl", package: "curl")
        let port = AlertLab.freePort()
        let lab = try AlertLab(alerts: "webhook_url = http://127.0.0.1:\(port)/down\nwebhook_timeout = 2")
        defer { lab.stop() }
        let r = try lab.raise("stream down")
        #expect(r.code == 0 && r.seconds < 1, "\(r.seconds) s: \(r.stderr)")
        let id = try #require(lab.alerts().first?.id)
        #expect(lab.wait(20) { (lab.delivery()[id, .webhook]?.attempts ?? 0) >= 2 }, "not retried: \(String(describing: lab.delivery()[id, .webhook]))")
        let e = try #require(lab.delivery()[id, .webhook])
        #expect(e.status == .failed || e.status == .sending)
        #expect(e.error?.contains("curl") == true, "\(e.error ?? "-")")
        #expect(lab.alerts().count == 1, "the alert stays in alerts.jsonl")
        let l1 = try lab.run(["--config", lab.config, "alerts", "list"])
        #expect(l1.stdout.contains("webhook=failed") || l1.stdout.contains("webhook=sending"), "\(l1.stdout)")
        // By hand, once the receiver is back.
        try lab.startReceiver(port: port)
        let d = try lab.run(["--config", lab.config, "alerts", "deliver"])
        #expect(d.code == 0, "\(d.stdout)\(d.stderr)")
        #expect(lab.delivery()[id, .webhook]?.status == .sent)
        #expect(lab.posts().count == 1)
        let l2 = try lab.run(["--config", lab.config, "alerts", "list"])
        #expect(l2.stdout.contains("webhook=sent"), "\(l2.stdout)")
        // The background deliverer, when its backoff ends, finds it sent: still one POST.
        let again = try lab.run(["--config", lab.config, "alerts", "deliver"])
        #expect(again.code == 0)
        #expect(lab.posts().count == 1)
    }

    @Test("repeats of one kind and summary within repeat_interval are delivered once, by concurrent deliverers never twice")
    func collapse() throws {
        try AlertLab.requireProgram("/usr/bin/curl", package: "curl")
        let port = AlertLab.freePort()
        let lab = try AlertLab(alerts: "webhook_url = http://127.0.0.1:\(port)/c\nrepeat_interval = 3600")
        defer { lab.stop() }
        try lab.startReceiver(port: port)
        for s in ["disk full", "disk full", "disk full", "other trouble", "disk full"] {
            let r = try lab.raise(s)
            #expect(r.code == 0 && r.seconds < 1)
        }
        let ids = lab.alerts().compactMap(\.id)
        #expect(ids.count == 5)
        let settled = lab.wait(30) {
            ids.allSatisfy { [.sent, .collapsed].contains(lab.delivery()[$0, .webhook]?.status) }
        }
        #expect(settled, "\(lab.delivery().entries)")
        let st = lab.delivery()
        #expect(ids.filter { st[$0, .webhook]?.status == .sent }.count == 2)
        #expect(ids.filter { st[$0, .webhook]?.status == .collapsed }.count == 3)
        #expect(st[ids[0], .webhook]?.status == .sent && st[ids[3], .webhook]?.status == .sent)
        #expect(lab.posts().count == 2, "\(lab.posts().count) POSTs")
    }

    @Test("mail through msmtp (sendmail -t) reaches a real SMTP server; below mail_min_severity stays unsent")
    func mail() throws {
        try AlertLab.requireProgram("/usr/bin/msmtp", package: "msmtp")
        let port = AlertLab.freePort()
        let lab = try AlertLab(alerts: "PLACEHOLDER")
        defer { lab.stop() }
        let rc = lab.dir + "/msmtprc"
        try AtomicFile.write("defaults\nauth off\ntls off\nlogfile \(lab.dir)/msmtp.log\naccount default\nhost 127.0.0.1\nport \(port)\n",
                             to: rc, mode: 0o600)
        try AtomicFile.write(try String(contentsOfFile: lab.config, encoding: .utf8).replacingOccurrences(of: "PLACEHOLDER", with: """
            mail_to = dba@example.org, oncall@example.org
            mail_from = mha-backup@manager.example.org
            mail_min_severity = warning
            mail_sendmail = /usr/bin/msmtp -C \(rc)
            """), to: lab.config, mode: 0o600)
        try lab.startSMTP(port: port)
        let info = try lab.raise("only for the record", severity: "info")
        let r = try lab.raise("binlog salvage of db1 failed", kind: "salvage-failed", details: "ssh: connect timed out")
        #expect(info.seconds < 1 && r.seconds < 1)
        let ids = lab.alerts().compactMap(\.id)
        #expect(ids.count == 2)
        let newDir = lab.dir + "/Maildir/new"
        #expect(lab.wait(30) { ((try? FileManager.default.contentsOfDirectory(atPath: newDir)) ?? []).count >= 1 },
                "no mail: \((try? String(contentsOfFile: lab.dir + "/msmtp.log", encoding: .utf8)) ?? "")")
        #expect(lab.wait(10) { lab.delivery()[ids[1], .mail]?.status == .sent })
        let files = try FileManager.default.contentsOfDirectory(atPath: newDir)
        #expect(files.count == 1, "exactly one mail (the info alert is below mail_min_severity)")
        let text = try String(contentsOfFile: newDir + "/" + files[0], encoding: .utf8)
        #expect(text.contains("Subject: [mha-backup] CRITICAL app1: binlog salvage of db1 failed"))
        #expect(text.contains("To: dba@example.org, oncall@example.org"))
        #expect(text.contains("From: mha-backup@manager.example.org"))
        #expect(text.contains("X-MHA-Backup-Kind: salvage-failed"))
        #expect(text.contains("ssh: connect timed out"))
        #expect(text.contains("id:       \(ids[1])"))
        #expect(lab.delivery()[ids[0], .mail]?.status == .belowSeverity)
    }
}
