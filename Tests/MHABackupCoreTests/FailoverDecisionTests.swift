import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("shutdown_script: the exit code tells MHA only what is known")
struct ShutdownDecisionTests {
    typealias D = ShutdownDecision
    let gone = D.Probe(portAnswers: false, sqlAnswers: false)
    let live = D.Probe(portAnswers: true, sqlAnswers: true)
    let hung = D.Probe(portAnswers: true, sqlAnswers: false)

    @Test("10 only when the kill worked and nothing answers on the port")
    func stopped() {
        let r = D.decide(kill: .done, probe: gone, policy: .abort)
        #expect(r.exitCode == 10 && r.state == .stopped && !r.alert)
    }

    @Test("a master that still answers SQL after the kill aborts by default, proceeds when chosen")
    func liveMaster() {
        for k: D.Kill in [.done, .failed("pkill: 2"), .sshFailed("Connection refused"), .notAttempted("invalid host")] {
            let a = D.decide(kill: k, probe: live, policy: .abort)
            #expect(a.exitCode == 1 && a.state == .live && a.alert, "\(k)")
            let p = D.decide(kill: k, probe: live, policy: .proceed)
            #expect(p.state == .live && p.alert)
            // proceed never claims ssh works when it did not
            switch k {
            case .done, .failed: #expect(p.exitCode == 10)
            case .sshFailed, .notAttempted: #expect(p.exitCode == 0)
            }
        }
    }

    @Test("ssh failed (refused, timeout, ProxyCommand failing) and nothing answers: exit 0, said truthfully, alerted")
    func unreachable() {
        let r = D.decide(kill: .sshFailed("ssh: connect to host 127.0.0.31 port 22: Connection refused"), probe: gone, policy: .abort)
        #expect(r.exitCode == 0 && r.state == .unreachable && r.alert)
        #expect(r.message.contains("unreachable") && r.message.contains("will not save"))
    }

    @Test("port open, SQL silent: not known stopped, so never 10 under abort")
    func hungServer() {
        let r = D.decide(kill: .done, probe: hung, policy: .abort)
        #expect(r.exitCode == 1 && r.state == .unknown)
    }

    @Test("ssh works, the kill failed, nothing answers: mysqld was not running, exit 10 with an alert")
    func alreadyStopped() {
        let r = D.decide(kill: .failed("pkill: pidfile not valid"), probe: gone, policy: .abort)
        #expect(r.exitCode == 10 && r.alert)
    }
}

@Suite("ssh_options are split as MHA's shell splits them")
struct ShellWordsTests {
    @Test("ProxyCommand with quotes, jump hosts, plain options")
    func split() {
        #expect(ShellWords.split("-o ConnectTimeout=5") == ["-o", "ConnectTimeout=5"])
        #expect(ShellWords.split(#"-o "ProxyCommand=ssh -W %h:%p jump" -o StrictHostKeyChecking=no"#)
                == ["-o", "ProxyCommand=ssh -W %h:%p jump", "-o", "StrictHostKeyChecking=no"])
        #expect(ShellWords.split("-o 'ProxyJump=a@b:2222'  -i /k") == ["-o", "ProxyJump=a@b:2222", "-i", "/k"])
        #expect(ShellWords.split(#"-o ProxyCommand=ssh\ -W\ %h:%p\ j"#) == ["-o", "ProxyCommand=ssh -W %h:%p j"])
        #expect(ShellWords.split("") == [])
        #expect(ShellWords.split("-o 'unbalanced") == nil)
    }
}

@Suite("which running jobs a failover pauses or aborts")
struct QuiesceDecisionTests {
    func job(phase: JobPhase, pgid: pid_t = 100, state: JobState = .running) -> JobRecord {
        JobRecord(id: "j", kind: .full, method: .mariabackup, sourceHost: "db2", sourcePort: 3306, pid: 99, pgid: pgid,
                  remotePid: nil, phase: phase, state: state, startedAt: Date(), updatedAt: Date(), bytes: 0)
    }

    @Test("a job whose tool has not started is aborted, not reported paused")
    func notStarted() {
        #expect(QuiesceDecision.decide(job(phase: .queued, pgid: 0), onDeadMaster: false, switchover: false, onFailover: .pause)
                == .abort(why: "its tool had not started yet (queued)"))
    }

    @Test("the dead master's jobs and lock holders are aborted; copying jobs on survivors are paused")
    func table() {
        #expect(QuiesceDecision.decide(job(phase: .copying), onDeadMaster: true, switchover: false, onFailover: .pause)
                == .abort(why: "its source is the failed master"))
        #expect(QuiesceDecision.decide(job(phase: .locking), onDeadMaster: false, switchover: false, onFailover: .pause)
                == .abort(why: "it holds backup locks"))
        #expect(QuiesceDecision.decide(job(phase: .copying), onDeadMaster: false, switchover: false, onFailover: .pause) == .pause)
        #expect(QuiesceDecision.decide(job(phase: .copying, state: .paused), onDeadMaster: false, switchover: false, onFailover: .pause)
                == .alreadyPaused)
        #expect(QuiesceDecision.decide(job(phase: .copying), onDeadMaster: true, switchover: true, onFailover: .pause) == .pause)
        #expect(QuiesceDecision.decide(job(phase: .copying), onDeadMaster: false, switchover: false, onFailover: .abort)
                == .abort(why: "on_failover = abort"))
    }
}

@Suite("foreign lock holders are killed only after the grace")
struct ForeignLockGraceTests {
    @Test("first seen starts the grace; a holder that goes away resets it")
    func grace() {
        var g = ForeignLockGrace(grace: 2)
        let t0 = Date()
        #expect(g.due(["a#1"], now: t0).isEmpty)
        #expect(g.due(["a#1", "b#2"], now: t0 + 1.5).isEmpty)
        #expect(g.due(["a#1", "b#2"], now: t0 + 2.1) == ["a#1"])
        #expect(g.due(["b#2"], now: t0 + 3.6) == ["b#2"])
        #expect(g.due(["a#1"], now: t0 + 3.7).isEmpty, "a#1 went away and came back: a new grace")
    }
}

@Suite("failover state: one writer, crash-safe salvage attempts, one alert per kind")
struct FailoverStateTests {
    @Test("the timeline's one writer refuses to replace a file it cannot read")
    func timelineUnreadable() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let p = try d.write("timeline.json", "{ not json")
        let e = mbError { try Timeline.update(p) { _ = $0.promote(host: "db2", port: 3306, at: Date(), promotion: nil, failoverId: "f", reason: "t") } }
        #expect(e?.code == .dataError)
        #expect(try String(contentsOfFile: p, encoding: .utf8) == "{ not json")
    }

    @Test("the timeline writer is idempotent for the same failover and saves under its lock")
    func timelineIdempotent() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let p = d.path + "/timeline.json"
        for _ in 0..<2 {
            try Timeline.update(p) { _ = $0.promote(host: "db2", port: 3306, at: Date(), promotion: nil, failoverId: "f1", reason: "t") }
        }
        #expect(try Timeline.load(p).entries.count == 1)
        #expect(FileManager.default.fileExists(atPath: p + ".lock"))
    }

    func store(_ d: TempDir) throws -> (FailoverStore, String) {
        let s = FailoverStore(stateDir: d.path)
        let (r, _) = try s.openOrCreate(kind: .failover, deadMaster: HookServer(host: "db1"), newMaster: nil)
        return (s, r.id)
    }

    @Test("a re-run starts a new attempt when the old worker is dead (pid reused: start time differs), keeps earlier files")
    func salvageAttempts() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let (s, id) = try store(d)
        let a1 = try s.beginSalvage(id)
        #expect(a1.attempt == 1 && a1.start)
        // A second hook of the same run, before the worker recorded itself: joins.
        let a1b = try s.beginSalvage(id)
        #expect(a1b.attempt == 1 && !a1b.start)
        // The worker is this process, then "dies": our pid with another start time (a reused pid).
        try s.update(id) {
            $0.salvage?.workerPid = getpid()
            $0.salvage?.workerStart = ProcessRunner.startTime(getpid())
            $0.salvage?.files = ["mysql-bin.000001"]
        }
        #expect(try s.beginSalvage(id).start == false, "a live worker is joined")
        try s.update(id) { $0.salvage?.workerStart = (ProcessRunner.startTime(getpid()) ?? 0) + 1 }
        let a2 = try s.beginSalvage(id)
        #expect(a2.attempt == 2 && a2.start)
        let st = try #require(s.load(id)?.salvage)
        #expect(st.state == .running && st.workerPid == nil && st.files == ["mysql-bin.000001"])
        #expect(st.message?.contains("attempt 1 was interrupted") == true)
        // A done attempt is also re-run by a new call (cheap: complete files are skipped).
        try s.update(id) { $0.salvage?.state = .done }
        #expect(try s.beginSalvage(id).attempt == 3)
    }

    @Test("a failover record written before salvage attempts existed still reads (an upgrade mid-history)")
    func oldRecordReads() throws {
        let d = try TempDir(); defer { d.cleanup() }
        try FileManager.default.createDirectory(atPath: d.path + "/failovers", withIntermediateDirectories: true)
        try d.write("failovers/fo-1.json", """
            {"id":"fo-1","kind":"failover","status":"succeeded","openedAt":"2026-11-25T10:00:00Z","deadMaster":{"host":"db1"},
             "steps":{},"pausedJobs":[],"abortedJobs":[],"streamWasRunning":false,
             "salvage":{"state":"done","startedAt":"2026-11-25T10:00:01Z","files":["bin.000001"],"lastFile":"bin.000001","lastPosition":4,"workerPid":7}}
            """)
        let r = try #require(FailoverStore(stateDir: d.path).load("fo-1"))
        #expect(r.salvage?.attempt == 1 && r.salvage?.state == .done && r.salvage?.files == ["bin.000001"])
    }

    @Test("the salvage's guess of the binlog base: the one with an index file, never aria_log or a relay log")
    func guessBase() {
        #expect(Salvage.guessBase(["mysql-bin", "aria_log"], indexed: ["mysql-bin"]) == "mysql-bin")
        #expect(Salvage.guessBase(["aria_log", "mysql-bin"], indexed: []) == "mysql-bin")
        #expect(Salvage.guessBase(["db1-relay-bin", "db1-relay-bin", "bin"], indexed: ["bin", "db1-relay-bin"]) == "bin")
        #expect(Salvage.guessBase(["b", "a"], indexed: []) == "a", "a tie is broken by name")
        #expect(Salvage.guessBase(["aria_log"], indexed: []) == nil)
    }

    @Test("an alert is sent once per failover and kind")
    func alertOnce() throws {
        let d = try TempDir(); defer { d.cleanup() }
        var c = BackupConfig(path: d.path + "/c.cnf", mhaConf: "/x", credentials: "/y", stateDir: d.path, storeDir: d.path)
        c.alertCommand = nil
        #expect(Alerts.raise(config: c, severity: .critical, kind: .salvageFailed, summary: "s", failoverId: "fo-1", now: Date()))
        #expect(!Alerts.raise(config: c, severity: .critical, kind: .salvageFailed, summary: "s", failoverId: "fo-1", now: Date()))
        #expect(Alerts.raise(config: c, severity: .critical, kind: .rePoint, summary: "s", failoverId: "fo-1", now: Date()))
        #expect(Alerts.raise(config: c, severity: .critical, kind: .salvageFailed, summary: "s", failoverId: "fo-2", now: Date()))
        let lines = try String(contentsOfFile: c.alertsPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
    }
}
