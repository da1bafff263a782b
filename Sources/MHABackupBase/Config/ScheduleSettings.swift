import FoundationEssentials

/// `[schedule]` of mha-backup.cnf: the gates and windows of `mha-backup run KIND` (what the systemd
/// timers and cron start). The defaults are the seed's (load 2.0, IO 80 %, retry 5 min, give up after 1 h).
public struct ScheduleSettings: Sendable, Equatable {
    /// The source host's 1-minute load average above this closes the load gate.
    public var maxLoad: Double = 2.0
    /// The source host's data disk busier than this (percent of the sampled interval) closes the IO gate.
    public var maxIOUtil: Double = 80
    /// Seconds between two diskstats samples of the IO gate.
    public var ioSample: TimeInterval = 2
    /// A closed gate is checked again after this long...
    public var gateRetry: TimeInterval = 300
    /// ...until this long after the first check; then the run is recorded as skipped, with an alert.
    public var gateGiveUp: TimeInterval = 3600
    /// Bound of one gate check (an ssh call, masterha_check_status).
    public var gateTimeout: TimeInterval = 30
    /// `no`: the manager gate is always open (a cluster whose manager runs elsewhere).
    public var requireManager = true
    /// Bound of the command a run starts (it is killed after this long).
    public var runTimeout: TimeInterval = 86_400
    /// A run of a kind still going after its window raises a critical alert (it is not killed);
    /// nil: no window for that kind.
    public var windows: [String: TimeInterval] = ScheduleSettings.defaultWindows
    /// A finished run longer than `slowFactor` times the average of the last `slowRuns` of its kind is a warning.
    public var slowFactor: Double = 2
    public var slowRuns = 5

    /// full 4 h (Sunday 02:00 ends before Monday's traffic), incremental 2 h (03:00 to 05:00), binlog
    /// 15 min (the next one starts then), verify 2 h, retention 1 h, tier 4 h.
    public static let defaultWindows: [String: TimeInterval] = [
        "full": 14_400, "incremental": 7_200, "binlog": 900, "verify": 7_200, "retention": 3_600, "tier": 14_400,
    ]
    public static let windowKinds = ["full", "incremental", "binlog", "verify", "retention", "tier"]

    public init() {}

    public static let keys: Set<String> = Set(["max_load", "max_io_util", "io_sample", "gate_retry", "gate_give_up", "gate_timeout",
                                               "require_manager", "run_timeout", "slow_factor", "slow_runs"])
        .union(windowKinds.map { "window_\($0)" })

    public static func parse(_ ini: INIFile) throws -> ScheduleSettings {
        var s = ScheduleSettings()
        guard let sec = ini.section("schedule") else { return s }
        let p = ini.path
        // One reader for every key: parse, range check, or an error naming file, line and key.
        func read<T>(_ key: String, _ parse: (String) -> T?, _ valid: (T) -> Bool, _ what: String) throws -> T? {
            guard let e = sec.entry(key) else { return nil }
            guard let v = parse(e.value), valid(v) else { throw MBError.config("\(p):\(e.line): \(q(key)) must be \(what), got \(q(e.value))") }
            return v
        }
        func number(_ key: String, _ r: ClosedRange<Double>) throws -> Double? {
            try read(key, { Double($0) }, { $0.isFinite && r.contains($0) }, "a number in \(r.lowerBound)...\(r.upperBound)")
        }
        func seconds(_ key: String, _ r: ClosedRange<Int>) throws -> TimeInterval? {
            try read(key, { Int($0) }, { r.contains($0) }, "a whole number of seconds in \(r.lowerBound)...\(r.upperBound)").map(TimeInterval.init)
        }
        if let n = try number("max_load", 0...10_000) { s.maxLoad = n }
        if let n = try number("max_io_util", 0...100) { s.maxIOUtil = n }
        if let n = try seconds("io_sample", 1...60) { s.ioSample = n }
        if let n = try seconds("gate_retry", 1...86_400) { s.gateRetry = n }
        if let n = try seconds("gate_give_up", 0...604_800) { s.gateGiveUp = n }
        if let n = try seconds("gate_timeout", 1...600) { s.gateTimeout = n }
        if let n = try seconds("run_timeout", 1...2_592_000) { s.runTimeout = n }
        if let n = try number("slow_factor", 1...1_000) { s.slowFactor = n }
        if let n = try seconds("slow_runs", 1...100) { s.slowRuns = Int(n) }
        if let e = sec.entry("require_manager") {
            switch e.value {
            case "yes": s.requireManager = true
            case "no": s.requireManager = false
            default: throw MBError.config("\(p):\(e.line): 'require_manager' must be yes or no, got \(q(e.value))")
            }
        }
        for k in windowKinds {
            // 0 switches the window (and its alert) off for that kind.
            if let n = try seconds("window_\(k)", 0...2_592_000) { s.windows[k] = n == 0 ? nil : n }
        }
        return s
    }
}
