import FoundationEssentials
import MHABackupBase
import Glibc

/// What the last `binlog archive` run saw of its source: the bytes the server listed that the
/// archive (or the live stream's copy) did not hold when the run ended. The only figure of the
/// master's own position we have without asking the server (`state_dir/metrics-binlog-archive.json`).
public struct BinlogArchiveRunRecord: Codable, Sendable, Equatable {
    public var host: String
    public var port: Int
    public var finishedAt: Date
    public var unarchivedBytes: Int64
    public var failedFiles: Int

    public init(host: String, port: Int, finishedAt: Date, unarchivedBytes: Int64, failedFiles: Int) {
        self.host = host
        self.port = port
        self.finishedAt = finishedAt
        self.unarchivedBytes = unarchivedBytes
        self.failedFiles = failedFiles
    }

    public static func path(stateDir: String) -> String { stateDir + "/metrics-binlog-archive.json" }
}

/// Computes every series from local state only: catalog manifests and their `verify.json`, the
/// binlog archive's `index.json` files, the stream's folder and pid file, failover records, the
/// fence, the job registry and statvfs of `store_dir`. It never contacts a server.
public struct MetricsCollector {
    public var config: BackupConfig
    public var cluster: String
    public var now: Date
    /// How many earlier successes make the average a new backup is compared with.
    public var history = 10

    public init(config: BackupConfig, now: Date) {
        self.config = config
        self.now = now
        cluster = config.metrics.cluster ?? MetricsSettings.appName(mhaConf: config.mhaConf)
    }

    static let windows: [(String, TimeInterval)] = [("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)]

    public func collect() -> [MetricFamily] {
        var out: [MetricFamily] = []
        let c = ("cluster", cluster)
        let jobs = JobRegistry(dir: config.jobsDir).all()
        let active = jobs.filter { [.running, .paused, .aborting].contains($0.state) }
        let manifests = Catalog(dir: config.backupsDir).all(activeJobs: Set(active.compactMap(\.backupId)))
        out += backupFamilies(manifests, c)
        out += verifyFamilies(manifests, c)
        out += binlogFamilies(c)
        out += storageFamilies(manifests, c)
        out += failoverFamilies(c)

        let fence = Fence.load(config.fencePath)
        out.append(MetricFamily("mha_backup_fence_up", .gauge, "1 while the failover fence stands (backups refuse to start).",
                                [.init([c], fence == nil ? 0 : 1)]))
        out.append(MetricFamily("mha_backup_fence_stale", .gauge, "1 when the fence is older than its ttl (a failover may have died half-way).",
                                [.init([c], fence?.isStale(now: now) == true ? 1 : 0)]))
        out.append(MetricFamily("mha_backup_jobs", .gauge, "Backup jobs by state (owner process alive).",
                                [JobState.running, .paused, .aborting].map { s in
                                    .init([c, ("state", s.rawValue)], Double(active.filter { $0.state == s }.count))
                                }))
        out.append(MetricFamily("mha_backup_metrics_generated_timestamp_seconds", .gauge,
                                "When mha-backup wrote this file (Unix time).", [.init([c], seconds(now))]))
        return out
    }

    func seconds(_ d: Date) -> Double { Self.ms(d.timeIntervalSince1970) }
    /// Milliseconds are enough, and keep the file readable.
    static func ms(_ s: Double) -> Double { (s * 1000).rounded() / 1000 }

    static func finished(_ m: Manifest) -> Date { m.finishedAt ?? m.startedAt }

    // MARK: backups

    func backupFamilies(_ all: [Manifest], _ c: (String, String)) -> [MetricFamily] {
        var lastTime = MetricFamily("mha_backup_last_success_timestamp_seconds", .gauge, "End of the newest complete backup of each type (Unix time).")
        var lastDuration = MetricFamily("mha_backup_last_success_duration_seconds", .gauge, "Duration of the newest complete backup of each type.")
        var lastSize = MetricFamily("mha_backup_last_success_size_bytes", .gauge, "Stored (compressed) size of the newest complete backup of each type.")
        var info = MetricFamily("mha_backup_last_success_info", .gauge, "The newest complete backup of each type: its source and method (value 1).")
        var avgDuration = MetricFamily("mha_backup_average_duration_seconds", .gauge, "Average duration of the complete backups before the newest (up to 10) of each type.")
        var avgSize = MetricFamily("mha_backup_average_size_bytes", .gauge, "Average stored size of the complete backups before the newest (up to 10) of each type.")
        var lastFailed = MetricFamily("mha_backup_last_attempt_failed", .gauge, "1 when the newest finished backup of each type failed (failed, or partial: its process died); aborts are not counted.")
        var ratio = MetricFamily("mha_backup_success_ratio", .gauge, "Complete backups over finished ones (aborts left out) started within the window, per type; absent when none finished.")
        var attempts = MetricFamily("mha_backup_attempts", .gauge, "Finished backups (complete, failed or partial) started within the window, per type.")
        var counts = MetricFamily("mha_backup_backups", .gauge, "Backups in the catalog by type and status.")
        var window = MetricFamily("mha_backup_backup_window_seconds", .gauge, "How old the newest complete backup of each type may be ([metrics] full_window, incremental_window).")

        for type in [BackupType.full, .incremental] {
            let t = ("type", type.rawValue)
            let mine = all.filter { $0.type == type }
            for s in [BackupStatus.complete, .failed, .aborted, .partial, .running] {
                counts.samples.append(.init([c, t, ("status", s.rawValue)], Double(mine.filter { $0.status == s }.count)))
            }
            if let w = type == .full ? config.metrics.fullWindow : config.metrics.incrementalWindow {
                window.samples.append(.init([c, t], w))
            }
            let complete = mine.filter { $0.status == .complete }.sorted { Self.finished($0) < Self.finished($1) }
            if let last = complete.last {
                lastTime.samples.append(.init([c, t], seconds(Self.finished(last))))
                lastDuration.samples.append(.init([c, t], Self.ms(last.durationSeconds ?? Self.finished(last).timeIntervalSince(last.startedAt))))
                lastSize.samples.append(.init([c, t], Double(last.compressedBytes)))
                info.samples.append(.init([c, t, ("source", "\(last.sourceHost):\(last.sourcePort)"), ("method", last.method.rawValue)], 1))
                let before = complete.dropLast().suffix(history)
                if !before.isEmpty {
                    let d = before.map { $0.durationSeconds ?? Self.finished($0).timeIntervalSince($0.startedAt) }
                    avgDuration.samples.append(.init([c, t], Self.ms(d.reduce(0, +) / Double(d.count))))
                    avgSize.samples.append(.init([c, t], Double(before.map(\.compressedBytes).reduce(0, +)) / Double(before.count)))
                }
            }
            let done = mine.filter { [.complete, .failed, .partial].contains($0.status) }
            if let newest = done.max(by: { Self.finished($0) < Self.finished($1) }) {
                lastFailed.samples.append(.init([c, t], newest.status == .complete ? 0 : 1))
            }
            for (name, span) in Self.windows {
                let inWindow = done.filter { now.timeIntervalSince($0.startedAt) <= span }
                attempts.samples.append(.init([c, t, ("window", name)], Double(inWindow.count)))
                if !inWindow.isEmpty {
                    ratio.samples.append(.init([c, t, ("window", name)],
                                               Double(inWindow.filter { $0.status == .complete }.count) / Double(inWindow.count)))
                }
            }
        }
        return [lastTime, lastDuration, lastSize, info, avgDuration, avgSize, lastFailed, ratio, attempts, counts, window]
    }

    // MARK: verify

    /// The last `verify.json` of a folder, and whether its failure is damage (files or structure)
    /// rather than a restore test that failed on data that checked out.
    static func latestVerify(_ folder: String) -> VerifyRecord? {
        try? JSON.load(VerifyRecord.self, path: "\(folder)/verify.json")
    }

    static func isDamage(_ r: VerifyRecord) -> Bool { !r.ok && (r.restore?.ok ?? true) }

    func verifyFamilies(_ all: [Manifest], _ c: (String, String)) -> [MetricFamily] {
        let catalog = Catalog(dir: config.backupsDir)
        var corrupt = 0
        var lastOK = MetricFamily("mha_backup_last_verify_ok", .gauge, "Result of the last verify of the newest verified complete backup of each type (1 ok, 0 failed), at the level it ran.")
        var lastAt = MetricFamily("mha_backup_last_verify_timestamp_seconds", .gauge, "When that verify ran (Unix time).")
        var rtoOK = MetricFamily("mha_backup_restore_test_ok", .gauge, "Result of the newest restore test (verify --level restore) of each type (1 ok, 0 failed).")
        var rto = MetricFamily("mha_backup_restore_test_duration_seconds", .gauge, "Restore time (RTO) measured by the newest passing restore test of each type: unpack, prepare, server start.")
        var rtoAt = MetricFamily("mha_backup_restore_test_timestamp_seconds", .gauge, "When the newest restore test of each type ran (Unix time).")

        var newestVerified: [BackupType: (Manifest, VerifyRecord)] = [:]
        var newestRestore: [BackupType: VerifyRecord] = [:]
        var newestPassingRestore: [BackupType: VerifyRecord] = [:]
        for m in all {
            if m.status == .partial, m.message == "commit marker does not match the manifest" { corrupt += 1; continue }
            guard m.status == .complete else { continue }
            let folder = catalog.folder(m.id)
            guard let r = Self.latestVerify(folder) else { continue }
            if Self.isDamage(r) { corrupt += 1 }
            if let have = newestVerified[m.type], Self.finished(have.0) > Self.finished(m) {} else { newestVerified[m.type] = (m, r) }
            let restoreRecord = r.restore != nil ? r : (try? JSON.load(VerifyRecord.self, path: "\(folder)/verify-restore.json"))
            if let rr = restoreRecord, rr.restore != nil {
                if (newestRestore[m.type]?.checkedAt ?? .distantPast) < rr.checkedAt { newestRestore[m.type] = rr }
                if rr.ok, (newestPassingRestore[m.type]?.checkedAt ?? .distantPast) < rr.checkedAt { newestPassingRestore[m.type] = rr }
            }
        }
        for type in [BackupType.full, .incremental] {
            let t = ("type", type.rawValue)
            if let (_, r) = newestVerified[type] {
                lastOK.samples.append(.init([c, t, ("level", r.level.rawValue)], r.ok ? 1 : 0))
                lastAt.samples.append(.init([c, t], seconds(r.checkedAt)))
            }
            if let r = newestRestore[type] {
                rtoOK.samples.append(.init([c, t], r.ok && r.restore?.ok == true ? 1 : 0))
                rtoAt.samples.append(.init([c, t], seconds(r.checkedAt)))
            }
            if let s = newestPassingRestore[type]?.restore?.seconds {
                rto.samples.append(.init([c, t], s))
            }
        }
        var binlogCorrupt = 0
        for name in Self.folders(config.binlogsDir) {
            if let r = Self.latestVerify("\(config.binlogsDir)/\(name)"), !r.ok { binlogCorrupt += 1 }
        }
        return [
            MetricFamily("mha_backup_corrupt_backups", .gauge, "Complete backups whose last verify found damage (files or structure), or whose commit marker does not match.", [.init([c], Double(corrupt))]),
            MetricFamily("mha_backup_corrupt_binlog_folders", .gauge, "Binlog archive folders whose last verify failed.", [.init([c], Double(binlogCorrupt))]),
            lastOK, lastAt, rtoOK, rto, rtoAt,
        ]
    }

    static func folders(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { name in
            var st = stat()
            return !name.hasPrefix(".") && stat("\(dir)/\(name)", &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        }.sorted()
    }

    static func mtime(_ path: String) -> Date? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    // MARK: binlogs

    /// Lag, as chosen: the master's position is not known without asking it, so the seconds are
    /// `now` minus the time of the newest binlog byte we hold of the current master (the live
    /// stream's newest file's mtime, else the newest archived file's archive time), and the bytes
    /// are what the last `binlog archive` run saw listed and not held.
    func binlogFamilies(_ c: (String, String)) -> [MetricFamily] {
        var files = MetricFamily("mha_backup_binlog_archived_files", .gauge, "Binlogs in the archive per source server.")
        var bytes = MetricFamily("mha_backup_binlog_archived_bytes", .gauge, "Bytes of binlogs in the archive per source server.")
        var last = MetricFamily("mha_backup_binlog_last_archived_timestamp_seconds", .gauge, "When the newest binlog of each source was archived (Unix time).")
        var lagSeconds = MetricFamily("mha_backup_binlog_archive_lag_seconds", .gauge,
                                      "Seconds since the newest binlog byte held of the current master (stream file mtime, else archive time); grows on an idle master too.")
        var lagBytes = MetricFamily("mha_backup_binlog_archive_lag_bytes", .gauge,
                                    "Bytes of the current master's binlogs not held when the last 'binlog archive' run ended (the active file minus the stream's copy).")
        var runAt = MetricFamily("mha_backup_binlog_archive_run_timestamp_seconds", .gauge, "When the last 'binlog archive' run of the current master ended (Unix time).")
        var streamUp = MetricFamily("mha_backup_binlog_stream_up", .gauge, "1 while the live binlog stream runs (its pid file names a live process); absent until a stream first ran.")

        var newestHeld: [String: Date] = [:]
        for name in Self.folders(config.binlogsDir) {
            guard let idx = try? JSON.load(BinlogIndex.self, path: "\(config.binlogsDir)/\(name)/index.json") else { continue }
            let source = "\(idx.host):\(idx.port)"
            let s = ("source", source)
            files.samples.append(.init([c, s], Double(idx.files.count)))
            bytes.samples.append(.init([c, s], Double(idx.files.map(\.size).reduce(0, +))))
            if let t = idx.files.map(\.archivedAt).max() {
                last.samples.append(.init([c, s], seconds(t)))
                newestHeld[source] = t
            }
        }
        let streamRoot = config.stateDir + "/stream"
        for name in Self.folders(streamRoot) {
            let dir = "\(streamRoot)/\(name)"
            guard let src = try? JSON.load(BinlogStreamSource.self, path: "\(dir)/source.json") else { continue }
            let source = "\(src.host):\(src.port)"
            for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where BinlogName(f) != nil {
                if let t = Self.mtime("\(dir)/\(f)"), t > (newestHeld[source] ?? .distantPast) { newestHeld[source] = t }
            }
        }
        if let current = (try? Timeline.load(config.timelinePath))?.current {
            let source = "\(current.masterHost):\(current.masterPort)"
            let s = ("source", source)
            if let t = newestHeld[source] {
                lagSeconds.samples.append(.init([c, s], Self.ms(max(0, now.timeIntervalSince(t)))))
            }
            if let r = try? JSON.load(BinlogArchiveRunRecord.self, path: BinlogArchiveRunRecord.path(stateDir: config.stateDir)),
               r.host == current.masterHost, r.port == current.masterPort {
                lagBytes.samples.append(.init([c, s], Double(r.unarchivedBytes)))
                runAt.samples.append(.init([c, s], seconds(r.finishedAt)))
            }
        }
        let pidFile = config.streamPidPath
        if BinlogFileIO.exists(streamRoot) || BinlogFileIO.exists(pidFile) {
            let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { pid_t($0) } }
            streamUp.samples.append(.init([c], pid.map { ProcessRunner.isAlive($0) } == true ? 1 : 0))
        }
        return [files, bytes, last, lagSeconds, lagBytes, runAt, streamUp]
    }

    // MARK: storage

    func storageFamilies(_ all: [Manifest], _ c: (String, String)) -> [MetricFamily] {
        let tier = ("tier", "hot")
        var out: [MetricFamily] = []
        // statvfs of the store, or of its nearest existing parent before the first backup.
        var dir = config.storeDir
        var vfs = statvfs()
        while statvfs(dir, &vfs) != 0, dir != "/" {
            dir = dir.split(separator: "/").dropLast().joined(separator: "/")
            dir = "/" + dir
        }
        let frsize = Double(vfs.f_frsize)
        let size = Double(vfs.f_blocks) * frsize
        if size > 0 {
            out.append(MetricFamily("mha_backup_storage_size_bytes", .gauge, "Size of the file system holding store_dir, per tier.", [.init([c, tier], size)]))
            out.append(MetricFamily("mha_backup_storage_used_bytes", .gauge, "Bytes in use on that file system (as df counts them), per tier.",
                                    [.init([c, tier], Double(vfs.f_blocks - vfs.f_bfree) * frsize)]))
            out.append(MetricFamily("mha_backup_storage_free_bytes", .gauge, "Bytes available to mha-backup on that file system (df's Avail), per tier.",
                                    [.init([c, tier], Double(vfs.f_bavail) * frsize)]))
        }
        let backupBytes = all.map { $0.files.map(\.size).reduce(0, +) }.reduce(0, +)
        var binlogBytes: Int64 = 0
        for name in Self.folders(config.binlogsDir) {
            if let idx = try? JSON.load(BinlogIndex.self, path: "\(config.binlogsDir)/\(name)/index.json") {
                binlogBytes += idx.files.map(\.size).reduce(0, +)
            }
        }
        out.append(MetricFamily("mha_backup_stored_bytes", .gauge, "Bytes mha-backup keeps in the store per tier: backups (their manifests' files) and binlogs (the archive's index).",
                                [.init([c, tier, ("kind", "backups")], Double(backupBytes)), .init([c, tier, ("kind", "binlogs")], Double(binlogBytes))]))
        return out
    }

    // MARK: failovers

    func failoverFamilies(_ c: (String, String)) -> [MetricFamily] {
        let records = FailoverStore(stateDir: config.stateDir).all()
        var total = MetricFamily("mha_backup_failovers_total", .counter, "Failovers and online switches on record (records are never deleted).")
        var failed = MetricFamily("mha_backup_failovers_failed_total", .counter, "Failovers and online switches closed as failed.")
        var duration = MetricFamily("mha_backup_last_failover_duration_seconds", .gauge, "From the first hook call to the report of the newest closed failover or switch, per kind.")
        var at = MetricFamily("mha_backup_last_failover_timestamp_seconds", .gauge, "When the newest failover or switch of each kind closed (Unix time).")
        var ok = MetricFamily("mha_backup_last_failover_succeeded", .gauge, "1 when the newest closed failover or switch of each kind succeeded.")
        for kind in [FailoverRecord.Kind.failover, .switchover] {
            let k = ("kind", kind.rawValue)
            let mine = records.filter { $0.kind == kind }
            total.samples.append(.init([c, k], Double(mine.count)))
            failed.samples.append(.init([c, k], Double(mine.filter { $0.status == .failed }.count)))
            if let last = mine.filter({ $0.closedAt != nil }).max(by: { $0.closedAt! < $1.closedAt! }), let closed = last.closedAt {
                duration.samples.append(.init([c, k], Self.ms(closed.timeIntervalSince(last.openedAt))))
                at.samples.append(.init([c, k], seconds(closed)))
                ok.samples.append(.init([c, k], last.status == .succeeded ? 1 : 0))
            }
        }
        let open = records.contains { $0.status == .open }
        return [total, failed, duration, at, ok,
                MetricFamily("mha_backup_failover_open", .gauge, "1 while a failover or switch is open (between its first hook and its report).", [.init([c], open ? 1 : 0)])]
    }
}
