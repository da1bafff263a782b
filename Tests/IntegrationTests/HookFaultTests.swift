import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupCLI
import MHABackupSandbox
import Testing

/// A client session kept open and idle between statements (a backup tool holding a lock does
/// exactly this): `mariadb` reading from a pipe that stays open.
final class IdleSession: @unchecked Sendable {
    let process = Process()
    let input = Pipe()

    init(host: String, user: String, password: String, dir: String) throws {
        let cnf = "\(dir)/\(user)-\(UInt32.random(in: 0...999_999)).cnf"
        try AtomicFile.write("[client]\nuser=\(user)\npassword=\(password)\n", to: cnf, mode: 0o600)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mariadb")
        process.arguments = ["--defaults-extra-file=\(cnf)", "--protocol=TCP", "--host=\(host)", "--port=3306", "--batch", "--force"]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    func send(_ sql: String) { input.fileHandleForWriting.write(Data((sql + "\n").utf8)) }

    func close() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

@Suite("hook faults and truths on real MHA: exit codes, foreign locks, wirings, crashes, re-runs", .serialized)
struct HookFaultScenarioTests {
    let lab = FailoverLab.shared

    var hookDir: String { (lab.binary as NSString).deletingLastPathComponent }

    /// Runs one of our hook executables as MHA would (`system()`), with our config.
    func hook(_ name: String, _ argv: [String], timeout: TimeInterval = 60) throws -> Harness.Run {
        let r = try ProcessRunner().run(Command(["\(hookDir)/mha-backup-\(name)", "--config=\(lab.config)"] + argv), timeout: timeout)
        return Harness.Run(code: r.timedOut ? -9 : (r.stages[0].exitCode ?? -1), stdout: r.stdoutString, stderr: r.stages[0].stderr)
    }

    /// The ssh options MHA passes for the sandbox's servers (app.cnf `ssh_options`).
    var sshOptions: String { "-i \(lab.sb.sshKey) -o UserKnownHostsFile=\(lab.sb.knownHosts) -o StrictHostKeyChecking=yes" }

    func setConfig(_ section: String, _ line: String) throws {
        var text = try String(contentsOfFile: lab.config, encoding: .utf8)
        let key = line.split(separator: "=").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? line
        text = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix(key + " ") && !$0.hasPrefix(key + "=") }
            .joined(separator: "\n")
        text = text.replacingOccurrences(of: "[\(section)]\n", with: "[\(section)]\n\(line)\n")
        try AtomicFile.write(text, to: lab.config, mode: 0o600)
    }

    func appCnfWithout(_ keys: [String]) throws {
        let text = try String(contentsOfFile: lab.sb.appCnf, encoding: .utf8)
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { line in !keys.contains { line.hasPrefix($0 + "=") } }
        try AtomicFile.write(kept.joined(separator: "\n"), to: lab.sb.appCnf, mode: 0o600)
    }

    func alive(_ host: String) -> Bool { (try? lab.sql(host, "SELECT 1 AS one").first?.first("one")) == "1" }

    func alerts() throws -> String {
        (try? String(contentsOfFile: try lab.context().config.alertsPath, encoding: .utf8)) ?? ""
    }

    func auditText() throws -> String {
        (try? String(contentsOfFile: try lab.context().config.auditPath, encoding: .utf8)) ?? ""
    }

    func shutdownArgv(_ host: String, sshOptions: String) -> [String] {
        ["--command=stopssh", "--ssh_user=root", "--host=\(host)", "--ip=\(host)", "--port=3306",
         "--pid_file=\(lab.sb.root)/h1/mysqld.pid", "--ssh_options=\(sshOptions)"]
    }

    @Test("shutdown_script stopssh: 10 only once mysqld is stopped; a jump host (ProxyCommand) works; a failing ssh on a live master aborts (1) or, with proceed, says 0")
    func shutdownTruth() throws {
        try lab.fresh()
        let pidFile = "\(lab.sb.root)/h1/mysqld.pid"
        #expect(FileManager.default.fileExists(atPath: pidFile), "the sandbox's pid file moved: \(pidFile)")
        // ssh cannot reach the host (the ProxyCommand fails) and mysqld still answers: a live old master.
        let bad = try hook("shutdown", shutdownArgv(lab.h1, sshOptions: sshOptions + " -o ProxyCommand=false"))
        #expect(bad.code == 1, "exit \(bad.code): \(bad.stderr)")
        #expect(bad.stderr.contains("still answers SQL"), "\(bad.stderr)")
        #expect(alive(lab.h1))
        #expect(try alerts().contains("critical"), "no critical alert")
        #expect(try auditText().contains("on_fence_failure = abort"))

        try setConfig("hooks", "on_fence_failure = proceed")
        let proceed = try hook("shutdown", shutdownArgv(lab.h1, sshOptions: sshOptions + " -o ProxyCommand=false"))
        #expect(proceed.code == 0, "ssh failed: never 10; \(proceed.stderr)")
        try setConfig("hooks", "on_fence_failure = abort")

        // Through a jump host, as MHA itself would use the option: mysqld is killed, then 10.
        let jump = "\(sshOptions) -o \"ProxyCommand=ssh \(sshOptions) -o BatchMode=yes -W %h:%p root@\(lab.h2)\""
        let dry = try hook("shutdown", shutdownArgv(lab.h1, sshOptions: jump) + ["--dry-run"])
        #expect(dry.code == 10, "the rehearsal predicts the real run: \(dry.stderr)")
        #expect(alive(lab.h1), "a dry run killed mysqld")
        let ok = try hook("shutdown", shutdownArgv(lab.h1, sshOptions: jump))
        #expect(ok.code == 10, "exit \(ok.code): \(ok.stderr)")
        #expect(!alive(lab.h1), "exit 10 but mysqld still answers")
        #expect(!TCPProbe.answers(host: lab.h1, port: 3306, timeout: 1))
        // A re-run: nothing left to kill, still stopped, still 10.
        let again = try hook("shutdown", shutdownArgv(lab.h1, sshOptions: jump))
        #expect(again.code == 10, "\(again.stderr)")
        // --command=stop (MHA found ssh down), nothing answers: 0, never a claim about ssh.
        let stop = try hook("shutdown", ["--command=stop", "--host=\(lab.h1)", "--ip=\(lab.h1)", "--port=3306"])
        #expect(stop.code == 0, "\(stop.stderr)")
    }

    @Test("shutdown_script's status opens one ssh connection; the kill goes over it (a direct connection would fail here) and the failover's worker closes it")
    func keptSSHConnection() throws {
        try lab.fresh()
        let ctx = try lab.context()
        let mux = SSHMux(stateDir: ctx.config.stateDir)
        let target = SSHTarget(user: "root", host: lab.h1, port: 22, options: [])
        defer { mux.closeAll() }
        let st = try hook("shutdown", ["--command=status", "--ssh_user=root", "--host=\(lab.h1)", "--ip=\(lab.h1)",
                                       "--ssh_options=\(sshOptions)"])
        #expect(st.code == 0, "\(st.stderr)")
        let end = Date().addingTimeInterval(20)
        while !mux.isLive(target), Date() < end { usleep(100_000) }
        #expect(mux.isLive(target), "no live master connection 20 s after the status call")
        // A second status call (the other hook's, or a re-run) neither fails nor opens a second one.
        #expect(try hook("shutdown", ["--command=status", "--ssh_user=root", "--host=\(lab.h1)", "--ip=\(lab.h1)",
                                      "--ssh_options=\(sshOptions)"]).code == 0)
        let masters = try ProcessRunner().run(Command(["pgrep", "-fc", "ControlPath=\(mux.socket(for: target)) "]), timeout: 5)
        #expect(masters.stdoutString.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "master processes: \(masters.stdoutString)")
        // ProxyCommand=false makes every new connection fail: exit 10 proves the kill used the kept one.
        let kill = try hook("shutdown", shutdownArgv(lab.h1, sshOptions: sshOptions + " -o ProxyCommand=false"))
        #expect(kill.code == 10, "exit \(kill.code): \(kill.stderr)")
        #expect(!alive(lab.h1))
        let exits = AuditLog(path: ctx.config.auditPath).read().filter { $0.action == Hooks.exitAction && $0.hook == HookKind.shutdown.rawValue }
        #expect(exits.last?.exitCode == 10 && exits.last?.durationMs != nil, "\(exits)")
        // What the report's worker does when it closes the failover.
        #expect(mux.closeAll() == 1)
        #expect(!mux.isLive(target))
        let left = try ProcessRunner().run(Command(["pgrep", "-f", "ControlPath=\(mux.socket(for: target)) "]), timeout: 5)
        #expect(left.stdoutString.isEmpty, "left: \(left.stdoutString)")
    }

    @Test("a host not in mha_conf is refused in every phase: no record, no fence, no timeline change")
    func unknownHosts() throws {
        try lab.fresh()
        let ctx = try lab.context()
        let before = try Timeline.load(ctx.config.timelinePath).entries
        let stop = try hook("master-ip-failover", ["--command=stop", "--orig_master_host=made-up.invalid", "--orig_master_ip=made-up.invalid",
                                                   "--orig_master_port=3306"])
        #expect(stop.code == 0, "\(stop.stderr)")
        let sd = try hook("shutdown", ["--command=stop", "--host=made-up.invalid", "--ip=made-up.invalid", "--port=3306"])
        #expect(sd.code == 1, "shutdown_script cannot claim an unknown host stopped: \(sd.stderr)")
        let report = try hook("report", ["--orig_master_host=\(lab.h1)", "--new_master_host=made-up.invalid", "--new_slave_hosts=",
                                         "--conf=\(lab.sb.appCnf)", "--subject=x", "--body=y"])
        #expect(report.code == 0, "\(report.stderr)")
        let start = try hook("master-ip-failover", ["--command=start", "--ssh_user=root", "--orig_master_host=\(lab.h1)", "--orig_master_ip=\(lab.h1)",
                                                    "--orig_master_port=3306", "--new_master_host=made-up.invalid", "--new_master_ip=made-up.invalid",
                                                    "--new_master_port=3306", "--new_master_user=mha", "--new_master_password=x"])
        #expect(start.code == 0, "\(start.stderr)")
        #expect(Fence.load(ctx.config.fencePath) == nil, "a made-up host raised the fence")
        #expect(FailoverStore(stateDir: ctx.config.stateDir).all().isEmpty, "a made-up host opened a failover record")
        #expect(try Timeline.load(ctx.config.timelinePath).entries == before)
        #expect(try auditText().contains("is not a server in"))
    }

    @Test("backup --wait waits for the failover fence to come down, then backs up (it used to exit 75 at once)")
    func waitForFence() throws {
        try lab.fresh()
        let ctx = try lab.context()
        #expect(try lab.run(["fence", "up", "--reason", "test"]).code == 0)
        let id = "wait-fence-\(UInt32.random(in: 0...999_999))"
        let p = try lab.startBackup(id: id, source: lab.h3, extra: ["--wait", "60"])
        sleep(4)
        #expect(ProcessRunner.isAlive(p), "the backup gave up while the fence was up")
        #expect((try? Catalog(dir: ctx.config.backupsDir).load(id)) == nil, "it started behind the fence")
        #expect(try lab.run(["fence", "down"]).code == 0)
        #expect(lab.waitFinished(p, timeout: 120))
        #expect(try lab.manifest(id).status == .complete)
        // Without --wait the fence still refuses at once.
        #expect(try lab.run(["fence", "up", "--reason", "test"]).code == 0)
        let r = try lab.run(["backup", "full", "--source", lab.h3])
        #expect(r.code == 75, "\(r.stderr)")
        #expect(try lab.run(["fence", "down"]).code == 0)
    }

    // MARK: foreign locks

    enum LockKind: String, CaseIterable { case ftwrl, blockCommit, lockTablesRead }

    func holdLock(_ kind: LockKind, _ s: IdleSession) {
        switch kind {
        case .ftwrl: s.send("FLUSH TABLES WITH READ LOCK;")
        case .blockCommit: s.send("BACKUP STAGE START; BACKUP STAGE FLUSH; BACKUP STAGE BLOCK_DDL; BACKUP STAGE BLOCK_COMMIT;")
        case .lockTablesRead: s.send("LOCK TABLES lab.t READ;")
        }
    }

    func toolSessions(_ host: String) throws -> [String] {
        try lab.sql(host, "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = 'tool'").compactMap { $0.first("id") }
    }

    @Test("foreign FTWRL, BACKUP STAGE BLOCK_COMMIT and LOCK TABLES READ on a survivor, with and without metadata_lock_info: named, killed after the grace, writers go on")
    func foreignLocksEveryKind() throws {
        try lab.fresh(["hooks": ["foreign_lock_grace_seconds = 2", "foreign_lock_watch_seconds = 60"]])
        let ctx = try lab.context()
        _ = try lab.sb.sql(host: lab.h2, """
            SET sql_log_bin = 0; CREATE USER 'tool'@'%' IDENTIFIED BY 'tool-pw'; GRANT RELOAD, LOCK TABLES, SELECT ON *.* TO 'tool'@'%';
            """)
        let dir = "\(lab.sb.root)/tmp"
        // The sandbox loads metadata_lock_info (plugin-load-add): off first, then on again.
        func pluginLoaded() -> Bool {
            ((try? lab.sql(lab.h2, "SELECT COUNT(*) AS n FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'"))?
                .first?.first("n")) == "1"
        }
        for plugin in [false, true] {
            if plugin != pluginLoaded() {
                _ = try lab.sb.sql(host: lab.h2, plugin ? "INSTALL PLUGIN METADATA_LOCK_INFO SONAME 'metadata_lock_info'"
                                                         : "UNINSTALL PLUGIN METADATA_LOCK_INFO", timeout: 60)
            }
            try #require(pluginLoaded() == plugin, "metadata_lock_info could not be \(plugin ? "loaded" : "unloaded") on \(lab.h2)")
            for kind in LockKind.allCases {
                let what = "\(kind.rawValue), plugin \(plugin)"
                let holder = try IdleSession(host: lab.h2, user: "tool", password: "tool-pw", dir: dir)
                defer { holder.close() }
                holdLock(kind, holder)
                #expect(Harness.shared.wait(10) { ((try? toolSessions(lab.h2)) ?? []).count == 1 }, "\(what): no holder session")
                let holderId = try #require(try toolSessions(lab.h2).first)
                // A writer that waits for the lock (the evidence when the plugin is not there).
                let writer = try ProcessRunner.spawnDetached(Command(["mariadb", "--socket=\(lab.sb.socketPath(host: lab.h2)!)", "-uroot", "-e",
                                                                      "INSERT INTO lab.t (v) VALUES ('waiting-writer')"]),
                                                             logFile: "\(dir)/writer.out")
                // The worker's watch, for a failover of h1 (h2 and h3 survive).
                let store = FailoverStore(stateDir: ctx.config.stateDir)
                let (rec, _) = try store.openOrCreate(kind: .failover, deadMaster: HookServer(host: lab.h1, ip: lab.h1, port: 3306), newMaster: nil)
                let worker = try ProcessRunner.spawnDetached(Command([lab.binary, "--config", lab.config, "hook-worker", "after-stop", "--failover", rec.id]),
                                                             logFile: "\(dir)/worker.out")
                let t0 = Date()
                let gone = Harness.shared.wait(30, every: 0.2) { ((try? toolSessions(lab.h2)).map { !$0.contains(holderId) }) ?? false }
                #expect(gone, "\(what): the holder was not killed: \((try? String(contentsOfFile: "\(dir)/worker.out", encoding: .utf8)) ?? "")")
                #expect(Date().timeIntervalSince(t0) >= 2, "\(what): killed before the grace")
                #expect(lab.waitFinished(writer, timeout: 30), "\(what): the waiting writer never got through")
                try store.update(rec.id) { $0.status = .failed; $0.closedAt = Date() }
                #expect(lab.waitFinished(worker, timeout: 10), "\(what): the worker did not stop with the failover closed")
                let audit = AuditLog(path: ctx.config.auditPath).read().filter { $0.failoverId == rec.id }
                #expect(!audit.isEmpty, "\(what): no audit of \(rec.id); worker: \((try? String(contentsOfFile: "\(dir)/worker.out", encoding: .utf8)) ?? "-")")
                #expect(audit.contains { $0.action == "kill foreign lock holder" && $0.outcome == .ok && ($0.message ?? "").contains("session \(holderId)") },
                        "\(what): \(audit.map { "\($0.action): \($0.message ?? "")" })")
                #expect(audit.contains { $0.action == "foreign lock" && ($0.message ?? "").contains(plugin ? "metadata_lock_info]" : "inferred") },
                        "\(what): \(audit.map { "\($0.action): \($0.message ?? "")" })")
            }
        }
        // kill_foreign_backup_locks = no: named, a critical alert, left alone.
        try setConfig("hooks", "kill_foreign_backup_locks = no")
        let holder = try IdleSession(host: lab.h2, user: "tool", password: "tool-pw", dir: dir)
        defer { holder.close() }
        holdLock(.ftwrl, holder)
        #expect(Harness.shared.wait(10) { ((try? toolSessions(lab.h2)) ?? []).count == 1 })
        let holderId = try #require(try toolSessions(lab.h2).first)
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        let (rec, _) = try store.openOrCreate(kind: .failover, deadMaster: HookServer(host: lab.h1, ip: lab.h1, port: 3306), newMaster: nil)
        let worker = try ProcessRunner.spawnDetached(Command([lab.binary, "--config", lab.config, "hook-worker", "after-stop", "--failover", rec.id]),
                                                     logFile: "\(dir)/worker2.out")
        #expect(Harness.shared.wait(15) { AuditLog(path: ctx.config.auditPath).read().contains { $0.failoverId == rec.id && $0.action == "foreign lock" } })
        sleep(4)
        #expect(try toolSessions(lab.h2).contains(holderId), "killed although kill_foreign_backup_locks = no")
        try store.update(rec.id) { $0.status = .failed; $0.closedAt = Date() }
        #expect(lab.waitFinished(worker, timeout: 10))
        #expect(try alerts().contains("foreign lock on \(lab.h2)"))
    }

    @Test("real MHA, default config, no metadata_lock_info: another tool's FTWRL on the replica MHA promotes is killed after the grace and the failover completes")
    func foreignFTWRLOnCandidate() throws {
        try lab.fresh()
        // The default: the sandbox's explicit line removed.
        var text = try String(contentsOfFile: lab.config, encoding: .utf8)
        text = text.replacingOccurrences(of: "kill_foreign_backup_locks = yes\n", with: "")
        try AtomicFile.write(text, to: lab.config, mode: 0o600)
        #expect(try lab.context().config.hooks.killForeignBackupLocks)
        _ = try lab.sb.sql(host: lab.h2, """
            SET sql_log_bin = 0; CREATE USER 'tool'@'%' IDENTIFIED BY 'tool-pw'; GRANT RELOAD, LOCK TABLES, SELECT ON *.* TO 'tool'@'%';
            """)
        let holder = try IdleSession(host: lab.h2, user: "tool", password: "tool-pw", dir: "\(lab.sb.root)/tmp")
        defer { holder.close() }
        let t0 = Date()
        let new = try lab.failover(wholeHost: false) {
            holder.send("FLUSH TABLES WITH READ LOCK;")
            // Rows the candidate must apply (its SQL thread waits for the lock).
            for i in 1...3 { _ = try lab.sb.sql(host: lab.h1, "INSERT INTO lab.t (v) VALUES ('under-ftwrl-\(i)')") }
        }
        let took = Date().timeIntervalSince(t0)
        #expect(new != nil, "MHA did not complete the failover (see \(lab.sb.managerLog))")
        #expect(took < 90, "the failover took \(Int(took)) s")
        let rec = try lab.lastFailover()
        let audit = try lab.audit(rec.id)
        #expect(audit.contains { $0.action == "kill foreign lock holder" && $0.outcome == .ok && ($0.message ?? "").contains("'tool'") },
                "\(audit.map { "\($0.action): \($0.message ?? "")" })")
        if let n = new {
            #expect(try lab.sql(n, "SELECT COUNT(*) AS n FROM lab.t WHERE v LIKE 'under-ftwrl-%'").first?.first("n") == "3")
        }
    }

    // MARK: wirings

    @Test("wirings INSTALL allows: only shutdown_script + report_script, or only report_script: the timeline follows the new master")
    func partialWirings() throws {
        for wiring in [["master_ip_failover_script", "master_ip_online_change_script"],
                       ["master_ip_failover_script", "shutdown_script", "master_ip_online_change_script"]] {
            try lab.fresh()
            try appCnfWithout(wiring)
            let ctx = try lab.context()
            let new = try lab.failover(wholeHost: false) {}
            let newMaster = try #require(new, "MHA did not complete with \(wiring) removed")
            let rec = try lab.lastFailover()
            #expect(Harness.shared.wait(60) { (FailoverStore(stateDir: ctx.config.stateDir).load(rec.id)?.status ?? .open) != .open })
            let done = try #require(FailoverStore(stateDir: ctx.config.stateDir).load(rec.id))
            #expect(done.status == .succeeded)
            #expect(done.newMaster?.host == newMaster)
            let tl = try Timeline.load(ctx.config.timelinePath)
            #expect(tl.current?.masterHost == newMaster, "without \(wiring): the timeline follows \(tl.current?.masterHost ?? "-")")
            #expect(tl.current?.promotion != nil, "no promotion point recorded at report")
            let audit = try lab.audit(rec.id)
            #expect(audit.contains { $0.action == "re-point" && $0.outcome == .ok })
            #expect(audit.contains { $0.action == "promotion recorded" && ($0.message ?? "").contains("report time") })
            #expect(Fence.load(ctx.config.fencePath) == nil)
            if let full = done.fullBackupJob {
                #expect(Harness.shared.wait(240, every: 0.5) { (try? lab.manifest(full))?.status == .complete })
                #expect(try lab.manifest(full).timeline == tl.current?.id)
            }
            // An operator re-runs the report with MHA's argv: it does no harm (no new record, fence or backup).
            let slaves = [lab.h1, lab.h2, lab.h3].filter { $0 != newMaster && $0 != lab.h1 }.joined(separator: ",")
            let again = try hook("report", ["--orig_master_host=\(lab.h1)", "--new_master_host=\(newMaster)", "--new_slave_hosts=\(slaves)",
                                            "--conf=\(lab.sb.appCnf)", "--subject=app1: MySQL Master failover", "--body=re-run"])
            #expect(again.code == 0, "\(again.stderr)")
            #expect(FailoverStore(stateDir: ctx.config.stateDir).all().count == 1, "a re-run of the report opened a new failover")
            #expect(Fence.load(ctx.config.fencePath) == nil)
            #expect(try auditText().contains("\"report again\""))
        }
    }

    // MARK: crashes and re-runs

    @Test("the salvage worker killed -9 mid-copy: the report resumes it, the record says so, 'mha-backup salvage' redoes it")
    func workerKilledMidSalvage() throws {
        try lab.fresh(bigMB: 150)
        // Without our shutdown_script (it would start a new attempt at once): only the report's
        // worker can find the dead one and resume.
        try appCnfWithout(["shutdown_script"])
        let ctx = try lab.context()
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        let killedRunning = LockedBox(false)
        let new = try lab.failover(wholeHost: false) {
            Thread {
                // The first worker that records itself as the salvage's: killed at once.
                let end = Date().addingTimeInterval(60)
                while Date() < end {
                    if let rec = store.open, let s = rec.salvage, let p = s.workerPid, s.state == .running {
                        kill(p, SIGKILL)
                        usleep(100_000)
                        let running = store.load(rec.id)?.salvage?.state == .running
                        killedRunning.mutate { $0 = running }
                        return
                    }
                    usleep(2_000)
                }
            }.start()
        }
        #expect(new != nil, "MHA did not complete")
        let rec = try lab.lastFailover()
        #expect(Harness.shared.wait(120) { (store.load(rec.id)?.status ?? .open) != .open })
        let done = try #require(store.load(rec.id))
        #expect(killedRunning.value, "the salvage ended before the kill; the scenario did not happen: \(String(describing: done.salvage))")
        #expect(done.salvage?.state == .done, "\(String(describing: done.salvage))")
        #expect((done.salvage?.attempt ?? 0) >= 2)
        #expect(Fence.load(ctx.config.fencePath) == nil)
        let audit = try lab.audit(rec.id)
        #expect(audit.contains { $0.action == "salvage binlogs" && ($0.message ?? "").contains("resuming") },
                "\(audit.map { "\($0.action): \($0.message ?? "")" })")
        let st = try lab.run(["status"])
        #expect(!st.stdout.contains("salvage of failover"), "\(st.stdout)")
        // An operator's redo: a new attempt, nothing lost, the files of the earlier ones kept.
        let again = try lab.run(["salvage", "--failover", rec.id])
        #expect(again.code == 0, "\(again.stderr)")
        let after = try #require(store.load(rec.id)?.salvage)
        #expect(after.attempt == done.salvage!.attempt + 1 && after.files.count >= done.salvage!.files.count)
    }

    @Test("the report never ran (manager gone, or the report hook killed before its worker): an operator's run of the report hook with MHA's argv finishes the failover")
    func reportByOperator() throws {
        try lab.fresh()
        try appCnfWithout(["report_script"])
        let ctx = try lab.context()
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        let new = try lab.failover(wholeHost: false) {}
        let newMaster = try #require(new, "MHA did not complete")
        let rec = try #require(store.open, "the failover record should still be open without a report")
        #expect(Fence.load(ctx.config.fencePath) != nil, "the fence should still stand")
        let st = try lab.run(["status"])
        #expect(st.stdout.contains("open failover: \(rec.id)"), "\(st.stdout)")
        let r = try hook("report", ["--orig_master_host=\(lab.h1)", "--new_master_host=\(newMaster)", "--new_slave_hosts=\(lab.h3)",
                                    "--conf=\(lab.sb.appCnf)", "--subject=app1: MySQL Master failover", "--body=by hand"])
        #expect(r.code == 0, "\(r.stderr)")
        #expect(Harness.shared.wait(60) { (store.load(rec.id)?.status ?? .open) != .open })
        #expect(store.load(rec.id)?.status == .succeeded)
        #expect(Fence.load(ctx.config.fencePath) == nil)
        #expect(try Timeline.load(ctx.config.timelinePath).current?.masterHost == newMaster)
        #expect(store.all().count == 1)
    }

    @Test("masterha_manager killed -9 mid-failover, then masterha_master_switch --master_state=dead: one record, fence down, timeline on the new master")
    func managerKilledThenSwitch() throws {
        try lab.fresh()
        let ctx = try lab.context()
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        let manager = try lab.sb.startManager(extraEnv: lab.hookEnv)
        _ = try lab.sb.killMaster(wholeHost: false)
        // As soon as our stop phase opened the record, the manager dies.
        #expect(Harness.shared.wait(60, every: 0.05) { store.open != nil })
        kill(manager, SIGKILL)
        ProcessRunner.reap(manager)
        lab.sb.stopManager()
        let first = try #require(store.open)
        var env = lab.sb.mhaEnvironment
        for (k, v) in lab.hookEnv { env[k] = v }
        let r = try ProcessRunner().run(Command(["masterha_master_switch", "--conf=\(lab.sb.appCnf)", "--master_state=dead",
                                                 "--dead_master_host=\(lab.h1)", "--dead_master_ip=\(lab.h1)", "--dead_master_port=3306",
                                                 "--new_master_host=\(lab.h2)", "--new_master_port=3306", "--interactive=0",
                                                 "--ignore_last_failover"], environment: env), timeout: 180)
        #expect(r.stages[0].exitCode == 0, "masterha_master_switch: \(r.stdoutString.suffix(1500))")
        #expect(Harness.shared.wait(60) { (store.load(first.id)?.status ?? .open) != .open })
        let done = try #require(store.load(first.id))
        #expect(done.status == .succeeded)
        #expect(store.all().filter { $0.kind == .failover }.count == 1, "the re-run opened a second record")
        #expect(Fence.load(ctx.config.fencePath) == nil)
        #expect(try Timeline.load(ctx.config.timelinePath).current?.masterHost == lab.h2)
        #expect(done.salvage?.state == .done, "\(String(describing: done.salvage))")
    }

    @Test("two hooks of one failover at once: one record, one salvage attempt (the second joins it)")
    func twoHooksAtOnce() throws {
        try lab.fresh()
        let ctx = try lab.context()
        _ = try lab.sb.killMaster(wholeHost: false)
        let a = ["--orig_master_host=\(lab.h1)", "--orig_master_ip=\(lab.h1)", "--orig_master_port=3306", "--command=stopssh",
                 "--ssh_user=root", "--ssh_options=\(sshOptions)"]
        let b = shutdownArgv(lab.h1, sshOptions: sshOptions)
        let results = LockedBox<[Int32]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = try? hook(i == 0 ? "master-ip-failover" : "shutdown", i == 0 ? a : b)
            results.mutate { $0.append(r?.code ?? -1) }
        }
        #expect(results.value.sorted() == [0, 10], "\(results.value)")
        let store = FailoverStore(stateDir: ctx.config.stateDir)
        #expect(store.all().count == 1)
        let rec = try #require(store.all().first)
        #expect(Harness.shared.wait(60) { store.load(rec.id)?.salvage?.state != .running })
        #expect(store.load(rec.id)?.salvage?.attempt == 1, "\(String(describing: store.load(rec.id)?.salvage))")
        let workerLog = (try? String(contentsOfFile: ctx.config.stateDir + "/hook-worker.log", encoding: .utf8)) ?? ""
        #expect(store.load(rec.id)?.salvage?.state == .done, "\(String(describing: store.load(rec.id)?.salvage)) worker log: \(workerLog.suffix(1500))")
        #expect(Fence.load(ctx.config.fencePath) != nil, "the fence stands until the report")
        _ = try lab.run(["fence", "down"])
    }

    @Test("the stream: --stop ends it; with its master gone it gives up after stream_max_restarts with an alert")
    func streamSupervision() throws {
        try lab.fresh(["binlog": ["stream_max_restarts = 2"]])
        let ctx = try lab.context()
        let s = try ProcessRunner.spawnDetached(Command([lab.binary, "binlog", "stream"], environment: ["MHA_BACKUP_CONFIG": lab.config]),
                                                logFile: "\(lab.sb.root)/tmp/stream.out")
        #expect(Harness.shared.wait(20) { FileManager.default.fileExists(atPath: ctx.config.streamPidPath) })
        let stop = try lab.run(["binlog", "stream", "--stop"])
        #expect(stop.code == 0 && stop.stdout.contains("stopped"), "\(stop.stdout)\(stop.stderr)")
        #expect(lab.waitFinished(s, timeout: 5))
        #expect(try lab.run(["binlog", "stream", "--stop"]).stdout.contains("no binlog stream running"))
        // The master dies and no failover follows: bounded retries, then exit 69 and an alert.
        _ = try lab.sb.killMaster(wholeHost: true)
        let t0 = Date()
        let r = try lab.run(["binlog", "stream"], timeout: 120)
        #expect(r.code == 69, "\(r.code): \(r.stderr.suffix(600))")
        #expect(Date().timeIntervalSince(t0) < 60)
        #expect(try alerts().contains("binlog stream gave up"))
    }
}

/// A value shared by threads.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    var value: T { lock.lock(); defer { lock.unlock() }; return v }
    func mutate(_ f: (inout T) -> Void) { lock.lock(); f(&v); lock.unlock() }
}
