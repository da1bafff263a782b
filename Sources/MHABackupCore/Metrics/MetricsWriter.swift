import FoundationEssentials
import MHABackupBase
import Glibc
import Dispatch

/// Writes `[metrics] metrics_file`: the rendered text to a hidden temp file beside it (its name
/// does not end in `.prom`, so node_exporter's textfile collector never reads it half-written),
/// fsync, rename. Mode 0644: node_exporter runs as its own user.
public enum MetricsWriter {
    public static func render(config: BackupConfig, now: Date) -> String {
        PromText.render(MetricsCollector(config: config, now: now).collect())
    }

    /// Writes the file; throws when it cannot (the `metrics` command reports that as its error).
    @discardableResult
    public static func write(config: BackupConfig, now: Date) throws -> String? {
        guard let file = config.metrics.file else { return nil }
        let text = render(config: config, now: now)
        try AtomicFile.write(text, to: file, mode: 0o644)
        return file
    }

    /// After a backup, binlog archive, stream event, verify, restore test or failover: refresh the
    /// file when `metrics_file` is set. A failure is a warning on stderr, never the caller's failure.
    public static func refresh(_ config: BackupConfig, now: Date = Date(), after event: String) {
        guard config.metrics.file != nil else { return }
        do {
            try write(config: config, now: now)
        } catch {
            eprint("mha-backup: warning: metrics not written after \(event): \((error as? MBError)?.message ?? "\(error)")")
        }
    }

    /// Records what a `binlog archive` run left unarchived (the lag in bytes), then refreshes.
    public static func afterBinlogArchive(_ config: BackupConfig, report: BinlogArchiveReport, now: Date = Date()) {
        guard config.metrics.file != nil else { return }
        var unarchived: Int64 = 0
        let streamDir = (try? HostName.folderName(host: report.host, port: report.port)).map { "\(config.stateDir)/stream/\($0)" }
        for f in report.files where ["active", "failed", "fetch", "refetch"].contains(f.action) {
            var size = f.size ?? 0
            // The live stream's copy of the active file is held too.
            if f.action == "active", let streamDir, let held = BinlogFileIO.size("\(streamDir)/\(f.name)") {
                size = max(0, size - held)
            }
            unarchived += size
        }
        let record = BinlogArchiveRunRecord(host: report.host, port: report.port, finishedAt: now, unarchivedBytes: unarchived,
                                            failedFiles: report.files.filter { $0.action == "failed" }.count)
        do {
            try AtomicFile.write(JSON.encode(record), to: BinlogArchiveRunRecord.path(stateDir: config.stateDir), mode: 0o640)
        } catch {
            eprint("mha-backup: warning: metrics: cannot record the binlog archive run: \((error as? MBError)?.message ?? "\(error)")")
        }
        refresh(config, now: now, after: "binlog archive")
    }
}

/// The live stream's refresher: a timer that writes the file every `stream_interval` seconds while
/// the stream runs (the stream is up, files are archived), and once more when it stops.
/// `@unchecked`: the timer is only resumed here and cancelled in `stop` (Dispatch makes that safe).
public final class MetricsTicker: @unchecked Sendable {
    private let timer: DispatchSourceTimer
    private let config: BackupConfig

    public init?(config: BackupConfig, event: String) {
        guard config.metrics.file != nil else { return nil }
        self.config = config
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "mha-backup.metrics"))
        // The first write after 2 s: the stream has claimed its pid file by then.
        timer.schedule(deadline: .now() + 2, repeating: config.metrics.streamInterval)
        timer.setEventHandler { MetricsWriter.refresh(config, after: event) }
        timer.resume()
    }

    public func stop(after event: String) {
        timer.cancel()
        MetricsWriter.refresh(config, after: event)
    }
}
