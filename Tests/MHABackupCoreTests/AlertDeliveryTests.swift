import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("alert delivery: settings, messages and the delivery plan")
struct AlertDeliveryTests {
    func line(_ id: String, _ t: TimeInterval, kind: AlertKind = .backupFailed, severity: AlertSeverity = .critical,
              summary: String = "backup full failed") -> Alerts.Line {
        Alerts.Line(id: id, time: Date(timeIntervalSince1970: t), severity: severity.rawValue, summary: summary, details: "",
                    failoverId: nil, kind: kind.rawValue, host: "mgr", cluster: "app1")
    }

    var settings: AlertSettings {
        var s = AlertSettings()
        s.webhookURL = "https://hooks.example/x?token=SECRET"
        s.mailTo = ["dba@example.org"]
        s.mailMinSeverity = .critical
        s.repeatInterval = 600
        return s
    }

    let me: (pid: Int32, start: UInt64?) = (100, 1)

    @Test("a new alert is claimed on each channel at or above its minimum severity")
    func claims() {
        var st = AlertDeliveryState()
        let a = [line("a1", 1000), line("a2", 1001, kind: .streamDown, severity: .warning, summary: "stream down")]
        let (claims, due) = AlertDeliveryPlan.plan(alerts: a, state: &st, settings: settings, now: Date(timeIntervalSince1970: 1002),
                                                   force: false, owner: me, isAlive: { _, _ in true })
        #expect(claims.map { "\($0.alert.id!)/\($0.channel.rawValue)" } == ["a1/webhook", "a1/mail", "a2/webhook"])
        #expect(st["a2", .mail]?.status == .belowSeverity)
        #expect(st["a1", .webhook]?.status == .sending && st["a1", .webhook]?.ownerPid == 100)
        #expect(due == nil)
    }

    @Test("the same kind and summary within repeat_interval is collapsed; after it, sent again")
    func collapse() {
        var st = AlertDeliveryState()
        let a = [line("a1", 1000), line("a2", 1300), line("a3", 1300, summary: "other"), line("a4", 1700)]
        let (claims, _) = AlertDeliveryPlan.plan(alerts: a, state: &st, settings: settings, now: Date(timeIntervalSince1970: 1800),
                                                 force: false, owner: me, isAlive: { _, _ in true })
        #expect(Set(claims.map { $0.alert.id! }) == ["a1", "a3", "a4"])
        #expect(st["a2", .webhook]?.status == .collapsed)
        #expect(st["a2", .webhook]?.collapsedInto == "a1")
    }

    @Test("a claim of a live deliverer is left alone; of a dead one, taken over")
    func claimsOfOthers() {
        var st = AlertDeliveryState()
        var e = AlertDeliveryState.Entry(status: .sending)
        e.ownerPid = 7
        e.ownerStart = 9
        st["a1", .webhook] = e
        st["a1", .mail] = e
        var s = settings
        s.mailTo = []
        var (claims, _) = AlertDeliveryPlan.plan(alerts: [line("a1", 1000)], state: &st, settings: s, now: Date(timeIntervalSince1970: 1001),
                                                 force: false, owner: me, isAlive: { _, _ in true })
        #expect(claims.isEmpty, "another live deliverer sends it: never twice")
        (claims, _) = AlertDeliveryPlan.plan(alerts: [line("a1", 1000)], state: &st, settings: s, now: Date(timeIntervalSince1970: 1001),
                                             force: false, owner: me, isAlive: { _, _ in false })
        #expect(claims.count == 1)
        #expect(st["a1", .webhook]?.ownerPid == 100)
        #expect(st["a1", .webhook]?.attempts == 1)
    }

    @Test("a failed item is retried with backoff, at once by hand, and given up after max age")
    func retries() {
        var st = AlertDeliveryState()
        var s = settings
        s.mailTo = []
        let a = [line("a1", 1000)]
        let t0 = Date(timeIntervalSince1970: 1000)
        _ = AlertDeliveryPlan.plan(alerts: a, state: &st, settings: s, now: t0, force: false, owner: me, isAlive: { _, _ in true })
        AlertDeliveryPlan.record(&st, id: "a1", channel: .webhook, error: "curl exit 7", now: t0)
        #expect(st["a1", .webhook]?.status == .failed)
        #expect(st["a1", .webhook]?.nextAttempt == t0.addingTimeInterval(5))
        var (claims, due) = AlertDeliveryPlan.plan(alerts: a, state: &st, settings: s, now: t0.addingTimeInterval(1), force: false,
                                                   owner: me, isAlive: { _, _ in true })
        #expect(claims.isEmpty)
        #expect(due == t0.addingTimeInterval(5))
        (claims, _) = AlertDeliveryPlan.plan(alerts: a, state: &st, settings: s, now: t0.addingTimeInterval(1), force: true,
                                             owner: me, isAlive: { _, _ in true })
        #expect(claims.count == 1, "by hand: due now")
        AlertDeliveryPlan.record(&st, id: "a1", channel: .webhook, error: "curl exit 7", now: t0.addingTimeInterval(2))
        #expect(st["a1", .webhook]?.attempts == 2)
        #expect(st["a1", .webhook]?.nextAttempt == t0.addingTimeInterval(22))
        (claims, due) = AlertDeliveryPlan.plan(alerts: a, state: &st, settings: s, now: t0.addingTimeInterval(s.maxAge + 1), force: true,
                                               owner: me, isAlive: { _, _ in true })
        #expect(claims.isEmpty && due == nil)
        #expect(st["a1", .webhook]?.status == .expired)
        #expect(AlertDeliveryPlan.backoff(afterAttempts: 1) == 5)
        #expect(AlertDeliveryPlan.backoff(afterAttempts: 3) == 80)
        #expect(AlertDeliveryPlan.backoff(afterAttempts: 30) == 3600)
    }

    @Test("an old alert first seen by a newly configured deliverer is not sent; lines without an id never")
    func oldAlerts() {
        var st = AlertDeliveryState()
        var old = line("a0", 0)
        let (claims, _) = AlertDeliveryPlan.plan(alerts: [old], state: &st, settings: settings, now: Date(timeIntervalSince1970: 200_000),
                                                 force: true, owner: me, isAlive: { _, _ in true })
        #expect(claims.isEmpty)
        #expect(st["a0", .webhook]?.status == .expired)
        old.id = nil
        var st2 = AlertDeliveryState()
        #expect(AlertDeliveryPlan.plan(alerts: [old], state: &st2, settings: settings, now: Date(timeIntervalSince1970: 1),
                                       force: true, owner: me, isAlive: { _, _ in true }).claims.isEmpty)
        #expect(st2.entries.isEmpty)
    }

    @Test("curl's config carries URL, headers and body quoted; nothing of them reaches argv")
    func curlConfig() throws {
        let body = try JSON.encode(AlertMessage.payload(line("a1", 1000, summary: "say \"hi\"\nback\\slash"), cluster: "app1"), pretty: false)
        let conf = AlertMessage.curlConfig(url: "https://h/x?token=S\"Q", headers: ["Authorization: Bearer T0K"], body: body, timeout: 7)
        #expect(conf.contains(#"url = "https://h/x?token=S\"Q""#))
        #expect(conf.contains(#"header = "Authorization: Bearer T0K""#))
        #expect(conf.contains("max-time = 7"))
        #expect(conf.contains(#"proto = "=http,https""#))
        // The JSON's own escapes (\" and \n in the summary) doubled for curl's parser.
        #expect(conf.contains(#"say \\\"hi\\\"\\nback\\\\slash"#))
        #expect(!conf.split(separator: "\n").contains { $0.hasPrefix("data-binary") && $0.dropFirst(14).contains("\n") })
        let p = try JSON.decoder.decode(AlertMessage.Payload.self, from: body)
        #expect(p.kind == "backup-failed" && p.cluster == "app1" && p.host == "mgr" && p.failover_id == nil)
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.contains("\"failover_id\":null"), "an unknown failover is null, not missing")
    }

    @Test("a headers file is 'Name: value' lines")
    func headers() throws {
        #expect(try AlertMessage.parseHeaders("# token\nAuthorization: Bearer x\n\nX-A: b\n") == ["Authorization: Bearer x", "X-A: b"])
        #expect(throws: MBError.self) { try AlertMessage.parseHeaders("no colon here") }
    }

    @Test("the mail: one-line headers (no injection), encoded subject, the facts in the body")
    func mail() {
        var a = line("a1", 1_796_119_200, summary: "salvage failed\nBcc: evil@x")
        a.failoverId = "fo-1"
        a.details = "details here"
        let m = AlertMessage.mail(a, to: ["a@x", "b@y"], from: "mha@z", cluster: "app1", hostname: "mgr")
        let head = m.components(separatedBy: "\n\n")[0]
        #expect(!head.split(separator: "\n").contains { $0.hasPrefix("Bcc:") })
        #expect(head.contains("To: a@x, b@y"))
        #expect(head.contains("Subject: [mha-backup] CRITICAL app1: salvage failed Bcc: evil@x"))
        #expect(head.contains("X-MHA-Backup-Kind: backup-failed"))
        #expect(head.contains("Date: Tue, 01 Dec 2026 10:00:00 +0000"))
        #expect(m.contains("failover: fo-1") && m.contains("details here"))
        var u = a
        u.summary = "réplica"
        #expect(AlertMessage.mail(u, to: ["a@x"], from: "m@z", cluster: "app1", hostname: "h").contains("Subject: =?utf-8?b?"))
    }

    @Test("[alerts] keys are parsed and checked; the URL is never echoed in an error")
    func parse() throws {
        func ini(_ body: String) throws -> INIFile { try INIFile.parse("[alerts]\n" + body, path: "/c.cnf", inlineComments: true) }
        let s = try AlertSettings.parse(try ini("""
            webhook_url = https://h/x?token=abc
            webhook_min_severity = critical
            webhook_headers_file = /etc/mha-backup/webhook-headers
            webhook_timeout = 3
            mail_to = a@x, b@y
            mail_from = mha@z
            mail_min_severity = info
            mail_sendmail = /usr/bin/msmtp -C /etc/mha-backup/msmtprc
            repeat_interval = 60
            """))
        #expect(s.webhookURL == "https://h/x?token=abc" && s.webhookMinSeverity == .critical && s.webhookTimeout == 3)
        #expect(s.mailTo == ["a@x", "b@y"] && s.mailFrom == "mha@z" && s.mailMinSeverity == .info)
        #expect(s.mailSendmail == ["/usr/bin/msmtp", "-C", "/etc/mha-backup/msmtprc"] && s.repeatInterval == 60)
        let e = mbError { _ = try AlertSettings.parse(try ini("webhook_url = ftp://x/secret-token")) }
        #expect(e?.code == .config)
        #expect(e?.message.contains("secret-token") == false)
        #expect(mbError { _ = try AlertSettings.parse(try ini("mail_to = not-an-address")) }?.code == .config)
        #expect(mbError { _ = try AlertSettings.parse(try ini("mail_min_severity = loud")) }?.code == .config)
        #expect(mbError { _ = try AlertSettings.parse(try ini("mail_sendmail = msmtp")) }?.code == .config)
        #expect(try AlertSettings.parse(try ini("command = /bin/true")).hasChannel == false)
    }

    @Test("every kind has a stable, unique name; Prometheus-only kinds are listed")
    func kinds() {
        let names = AlertKind.allCases.map(\.rawValue)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.allSatisfy { $0.isLowercase || $0 == "-" } })
        #expect(AlertKind.prometheusOnly.contains(.storageThreshold) && !AlertKind.prometheusOnly.contains(.backupFailed))
    }
}

@Suite("the alerts of backups and verification")
struct BackupAlertsTests {
    func context(_ d: TempDir) throws -> Context {
        let c = BackupConfig(path: d.path + "/c.cnf", mhaConf: "/etc/mha/app1.cnf", credentials: "/y", stateDir: d.path, storeDir: d.path)
        let mha = try MHAAppConfig.parse(try INIFile.parse("[server1]\nhostname=db1\n", path: "/etc/mha/app1.cnf", inlineComments: false))
        return Context(config: c, mha: mha)
    }

    func kinds(_ ctx: Context) -> [String] { AlertDeliverer.readAlerts(ctx.config.alertsPath).compactMap(\.kind) }

    @Test("a failed backup alerts; an abort, a busy slot or a fresh fence do not; a stale fence does")
    func backups() throws {
        let d = try TempDir(); defer { d.cleanup() }
        var ctx = try context(d)
        BackupAlerts.failed(ctx, type: .full, error: MBError(.failed, "backup 'x' aborted; recorded as aborted in the catalog"))
        BackupAlerts.failed(ctx, type: .full, error: MBError(.busy, "max_parallel reached"))
        _ = try Fence.raise(at: ctx.config.fencePath, failoverId: "fo-1", reason: "failover", ttl: 60, now: Date())
        BackupAlerts.failed(ctx, type: .full, error: MBError(.fenced, "backup refused"))
        #expect(kinds(ctx).isEmpty)
        ctx.clock = Clock(now: { Date().addingTimeInterval(3600) })
        BackupAlerts.failed(ctx, type: .incremental, error: MBError(.fenced, "backup refused"))
        BackupAlerts.failed(ctx, type: .full, error: MBError(.failed, "mariabackup exit 1"))
        #expect(kinds(ctx) == ["fence-stale", "backup-failed"])
        let lines = AlertDeliverer.readAlerts(ctx.config.alertsPath)
        #expect(lines[0].failoverId == "fo-1" && lines[0].cluster == "app1")
        #expect(lines[1].summary == "backup full failed: mariabackup exit 1" && lines[1].severity == "critical")
    }

    @Test("verify: damaged data is backup-corrupt, any other failure verify-failed")
    func verify() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let ctx = try context(d)
        func rec(_ id: String, _ reason: String) -> VerifyRecord {
            VerifyRecord(kind: .backup, id: id, level: .files, ok: false, problems: [VerifyProblem(file: "/s/\(id)/data", reason: reason)],
                         files: 1, seconds: 0, checkedAt: Date(), notes: [], restore: nil)
        }
        var report = VerifyReport()
        report.records = [rec("b1", "sha256 abc, the manifest records def"), rec("b2", "broken chain: incremental without a parent")]
        BackupAlerts.verifyFailed(ctx, report: report, level: .files)
        #expect(kinds(ctx) == ["backup-corrupt", "verify-failed"])
    }
}
