import Foundation
import MHABackupBase
import MHABackupCore
import MHABackupSandbox
import Testing

/// Two clusters on one manager host (section 6 of issue 10): cluster A is the shared sandbox
/// (MHA_BACKUP_SANDBOX_BASE), cluster B the failover lab (MHA_BACKUP_FAILOVER_BASE), each with its
/// own mha-backup config, app.cnf, state_dir and store_dir. B fails over with real MHA while A has
/// a full backup and a running binlog stream; A must not notice.
@Suite("two clusters on one manager host", .serialized)
struct ClusterIsolationIntegrationTests {
    /// Every file under `dir` (relative path -> bytes); missing dir: empty.
    func snapshot(_ dir: String) -> [String: Data] {
        var out: [String: Data] = [:]
        guard let e = FileManager.default.enumerator(atPath: dir) else { return out }
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            let p = "\(dir)/\(rel)"
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue {
                out[rel] = FileManager.default.contents(atPath: p) ?? Data()
            }
        }
        return out
    }

    struct ClusterState: Equatable {
        var catalog: [String: Data]
        var fence: Data?
        var jobs: [String: Data]
        var timeline: Data?
        var failovers: [String]
        var streamPid: Data?
    }

    func state(_ c: BackupConfig) -> ClusterState {
        ClusterState(catalog: snapshot(c.backupsDir), fence: FileManager.default.contents(atPath: c.fencePath),
                     jobs: snapshot(c.jobsDir).filter { !$0.key.hasPrefix(".") }, timeline: FileManager.default.contents(atPath: c.timelinePath),
                     failovers: FailoverStore(stateDir: c.stateDir).all().map(\.id), streamPid: FileManager.default.contents(atPath: c.streamPidPath))
    }

    @Test("B fails over with real MHA: A's stream keeps its pid and follows A's master; A's catalog, fence, jobs and timeline are untouched; the failover is in B's state only")
    func failoverOfOneCluster() throws {
        let a = try requireSandbox()
        let lab = FailoverLab.shared
        let ca = try a.context().config
        try lab.fresh()
        let cb = try lab.context().config
        #expect(ca.stateDir != cb.stateDir && ca.storeDir != cb.storeDir && ca.mhaConf != cb.mhaConf)
        #expect(ca.clusterName != cb.clusterName || ca.mhaConf != cb.mhaConf)

        // Cluster A: a full backup and a live stream.
        let full = try a.run(["backup", "full", "--method", "dump"])
        #expect(full.code == 0, "A's backup: \(full.stderr)")
        let streamLog = "\(a.sandbox.root)/tmp/isolation-stream.out"
        let stream = try a.start(["binlog", "stream"], log: streamLog)
        defer {
            _ = try? a.run(["binlog", "stream", "--stop"], timeout: 60)
            if ProcessRunner.isAlive(stream) { kill(stream, SIGKILL) }
            ProcessRunner.reap(stream)
        }
        #expect(a.wait(30) { FileManager.default.fileExists(atPath: ca.streamPidPath) }, "A's stream did not start: \((try? String(contentsOfFile: streamLog, encoding: .utf8)) ?? "")")
        let masterA = try a.master()
        let before = state(ca)
        #expect(before.fence == nil)
        let alertsBefore = AlertDeliverer.readAlerts(ca.alertsPath).count

        // Cluster B: a real MHA failover (its master's mysqld killed under masterha_manager).
        let newB = try lab.failover(wholeHost: false) {}
        #expect(newB == lab.h2, "MHA did not promote \(lab.h2): \(String(describing: newB))")
        let rec = try lab.lastFailover()
        #expect(a.wait(60, every: 0.5) { (FailoverStore(stateDir: cb.stateDir).load(rec.id)?.status ?? .open) != .open })
        #expect(try Timeline.load(cb.timelinePath).current?.masterHost == lab.h2)
        #expect(try Timeline.load(cb.timelinePath).current?.failoverId == rec.id)

        // Cluster A: nothing moved.
        let after = state(ca)
        #expect(after.catalog == before.catalog, "A's catalog changed: \(Set(after.catalog.keys).symmetricDifference(before.catalog.keys).sorted())")
        #expect(after.fence == nil, "A is fenced")
        #expect(after.jobs == before.jobs)
        #expect(after.timeline == before.timeline, "A's timeline changed")
        #expect(after.failovers == before.failovers && !after.failovers.contains(rec.id))
        #expect(after.streamPid == before.streamPid, "A's stream pid file changed")
        #expect(ProcessRunner.isAlive(stream), "A's stream died: \((try? String(contentsOfFile: streamLog, encoding: .utf8)) ?? "")")
        #expect(try a.master() == masterA)
        let newAlerts = AlertDeliverer.readAlerts(ca.alertsPath).dropFirst(alertsBefore)
        #expect(newAlerts.allSatisfy { $0.failoverId != rec.id && $0.cluster == ca.clusterName }, "\(newAlerts.map(\.summary))")
        let auditA = AuditLog(path: ca.auditPath).read()
        #expect(!auditA.contains { $0.failoverId == rec.id }, "B's failover is in A's audit trail")

        // A's stream still follows A's master: a binlog closed there now reaches A's archive.
        let archive = try BinlogArchive(config: ca, host: masterA, port: 3306)
        let n = (try? archive.loadIndex())?.files.count ?? 0
        _ = try a.sandbox.sql(host: masterA, "INSERT INTO lab.t (v) VALUES ('isolation-\(UInt32.random(in: 0...999_999))'); FLUSH BINARY LOGS;")
        #expect(a.wait(40, every: 0.5) { ((try? archive.loadIndex())?.files.count ?? 0) > n }, "A's stream did not archive A's new binlog")

        // A config of B that points at A's folders is refused.
        var text = try String(contentsOfFile: lab.config, encoding: .utf8)
        text = text.replacingOccurrences(of: "state_dir = \(cb.stateDir)", with: "state_dir = \(ca.stateDir)")
        let wrong = "\(lab.sb.root)/mha-backup/wrong.cnf"
        try AtomicFile.write(text, to: wrong, mode: 0o600)
        let r = try ProcessRunner().run(Command([lab.binary, "--config", wrong, "fence", "status"]), timeout: 30)
        #expect(r.stages[0].exitCode == 78, "\(r.stages[0].stderr)")
        #expect(r.stages[0].stderr.contains("belongs to the cluster of"), "\(r.stages[0].stderr)")
    }
}
