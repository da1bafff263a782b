import FoundationEssentials

/// `[metrics]` of mha-backup.cnf. Without `metrics_file` nothing is written.
public struct MetricsSettings: Sendable, Equatable {
    /// The `.prom` file node_exporter's textfile collector reads (absolute path, ends in `.prom`).
    public var file: String?
    /// The `cluster` label; default: the MHA app's name (app.cnf's file name without `.cnf`).
    public var cluster: String?
    /// The live stream refreshes the file at most this often (seconds).
    public var streamInterval: TimeInterval = 60
    /// A full (incremental) backup is expected at least this often: exported as
    /// `mha_backup_backup_window_seconds`, which the "past its window" alert compares against.
    public var fullWindow: TimeInterval? = 93_600
    public var incrementalWindow: TimeInterval?

    public init() {}

    public static let keys: Set<String> = ["metrics_file", "cluster", "stream_interval", "full_window", "incremental_window"]

    public static func parse(_ ini: INIFile) throws -> MetricsSettings {
        var m = MetricsSettings()
        guard let s = ini.section("metrics") else { return m }
        let p = ini.path
        if let e = s.entry("metrics_file"), !e.value.isEmpty {
            guard e.value.hasPrefix("/"), e.value.hasSuffix(".prom") else {
                throw MBError.config("\(p):\(e.line): 'metrics_file' must be an absolute path ending in '.prom' (node_exporter reads only *.prom), got \(q(e.value))")
            }
            m.file = e.value
        }
        if let e = s.entry("cluster"), !e.value.isEmpty {
            guard e.value.count <= 200, !e.value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
                throw MBError.config("\(p):\(e.line): 'cluster' must be at most 200 characters without control characters")
            }
            m.cluster = e.value
        }
        func seconds(_ key: String, _ range: ClosedRange<Int>) throws -> TimeInterval? {
            guard let e = s.entry(key) else { return nil }
            guard let n = Int(e.value), range.contains(n) else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be a whole number of seconds in \(range.lowerBound)...\(range.upperBound), got \(q(e.value))")
            }
            return TimeInterval(n)
        }
        if let n = try seconds("stream_interval", 1...86_400) { m.streamInterval = n }
        // 0 switches the window (and its alert) off for that type.
        if let n = try seconds("full_window", 0...31_536_000) { m.fullWindow = n == 0 ? nil : n }
        if let n = try seconds("incremental_window", 0...31_536_000) { m.incrementalWindow = n == 0 ? nil : n }
        return m
    }

    /// The MHA app's name from its config path: `/etc/masterha/app1.cnf` gives `app1`.
    public static func appName(mhaConf: String) -> String {
        var base = mhaConf.split(separator: "/").last.map(String.init) ?? mhaConf
        for ext in [".cnf", ".conf", ".ini"] where base.hasSuffix(ext) && base.count > ext.count {
            base.removeLast(ext.count)
            break
        }
        return base.isEmpty ? "mha-backup" : base
    }
}
