import FoundationEssentials
import Glibc
import Dispatch

public enum Compression: String, Sendable, Codable, CaseIterable {
    case zstd, lz4, gzip, none

    public var fileSuffix: String {
        switch self {
        case .zstd: return ".zst"
        case .lz4: return ".lz4"
        case .gzip: return ".gz"
        case .none: return ""
        }
    }

    /// The compressor's argv (reads stdin, writes stdout), or nil for none.
    public func compressArgv(level: Int?) -> [String]? {
        switch self {
        case .zstd: return ["zstd", "-q", "-T0", "-\(level ?? 3)", "-c"]
        case .lz4: return ["lz4", "-q", "-\(level ?? 1)", "-c"]
        case .gzip: return ["gzip", "-\(level ?? 6)", "-c"]
        case .none: return nil
        }
    }

    public var decompressArgv: [String]? {
        switch self {
        case .zstd: return ["zstd", "-q", "-d", "-c"]
        case .lz4: return ["lz4", "-q", "-d", "-c"]
        case .gzip: return ["gzip", "-d", "-c"]
        case .none: return nil
        }
    }
}

public enum BackupMethod: String, Sendable, Codable, CaseIterable {
    case mariabackup, xtrabackup, dump

    public var isPhysical: Bool { self != .dump }
}

public enum SourcePolicy: Sendable, Equatable {
    case replica, master
    case host(String)

    package static func parse(_ s: String) -> SourcePolicy {
        switch s {
        case "replica", "slave": return .replica
        case "master": return .master
        default: return .host(s)
        }
    }
}

/// Per-host settings from `[host NAME]` sections of mha-backup.cnf.
public struct HostSettings: Sendable, Equatable {
    package init(datadir: String? = nil, socket: String? = nil, remoteCredentials: String? = nil) {
        self.datadir = datadir
        self.socket = socket
        self.remoteCredentials = remoteCredentials
    }

    /// The server's datadir on that host (default: the server's own @@datadir).
    public var datadir: String?
    /// The server's socket on that host; mariabackup connects through it (default: TCP to ip:port).
    public var socket: String?
    /// The credentials file on that host (mode 0600), passed as `--defaults-extra-file` there.
    public var remoteCredentials: String?
}

/// mha-backup.cnf: one INI file in MHA's style.
public struct BackupConfig: Sendable {
    public var path: String
    public var mhaConf: String
    public var credentials: String
    public var stateDir: String
    public var storeDir: String

    public var source: SourcePolicy = .replica
    public var method: BackupMethod = .mariabackup
    /// `method = auto`: a dump below `AutoMethod.dumpBelowBytes` of data on the source, else physical.
    public var methodAuto = false
    public var compression: Compression = .zstd
    public var compressionLevel: Int?
    public var maxParallel = 2
    public var nice = 10
    public var ioniceClass: Int? = 2
    public var ioniceLevel = 7
    public var backupTimeout: TimeInterval = 86_400
    /// mariabackup/xtrabackup `--throttle` (IO operations per second while copying); nil: none.
    public var throttle: Int?
    /// `--safe-slave-backup` on a replica: `auto` only when the source's binlog_format is not ROW
    /// (temporary tables replicate only with STATEMENT/MIXED). The tool keeps the SQL thread
    /// stopped for most of the backup, which makes MHA's online switch refuse to run.
    public var safeSlaveBackup: SafeSlave = .auto
    public enum SafeSlave: String, Sendable { case auto, yes, no }
    /// Extra options for the physical tool (e.g. `--parallel=4 --use-memory=1G`), split on spaces.
    public var toolOptions: [String] = []
    public var remoteTmpdir = "/var/tmp"
    public var remoteCredentials: String?
    public var sshConnectTimeout = 5
    public var sshOptions: [String] = []
    public var sshIdentity: String?
    public var sshKnownHosts: String?
    /// `[ssh] control_master`: keep one ssh connection to the master open (OpenSSH ControlMaster
    /// under state_dir/ssh-mux), so shutdown_script's kill does not pay a connection set-up on
    /// MHA's path. Opened by the status calls at manager start, closed after the failover.
    public var sshControlMaster = true
    public var clientTimeout: TimeInterval = 10
    public var fenceTTL: TimeInterval = 3600

    /// `[restore]`: where `verify --level restore` makes its scratch datadir (mariadbd, running as
    /// `mysql`, must reach it), and the memory prepare and the scratch server may use.
    public var restoreScratchDir = "/var/tmp"
    public var restoreUseMemory = "1G"
    public var restoreBufferPool = "1G"

    public var streamServerId = 4_242_001
    /// The live stream gives up (with a critical alert) after this many failed restarts in a row.
    public var streamMaxRestarts = 10
    public var binlogTimeout: TimeInterval = 3600
    public var mysqlFlavor: Flavor = .auto

    public var hosts: [String: HostSettings] = [:]
    public var hooks = HookSettings()
    /// The site's own scripts our hooks chain to, by MHA setting name.
    public var chain: [HookKind: String] = [:]
    /// Run on every alert: argv = [command, severity, summary], the details on stdin.
    public var alertCommand: String?
    /// `[metrics]`: the Prometheus textfile and its labels.
    public var metrics = MetricsSettings()
    /// `[tier warm]`, `[tier cold]`: the remote tiers after hot (`store_dir`), in order.
    public var tiers: [TierSettings] = []
    /// `[retention]`: what `mha-backup retention` keeps (Config/RetentionSettings.swift).
    public var retention = RetentionSettings()
    /// `[schedule]`: gates and windows of `mha-backup run`.
    public var schedule = ScheduleSettings()
    /// `[alerts]` webhook and mail delivery (Alerts/AlertSettings.swift).
    public var alertDelivery = AlertSettings()
    /// `[encryption]` key files (Crypto/, Config/EncryptionSettings.swift).
    public var encryption = EncryptionSettings()

    public struct HookSettings: Sendable {
        /// What stop/stopssh does to running backups: pause them, or abort them.
        public var onFailover: OnFailover = .pause
        /// Our own work on MHA's critical path is bounded by this (seconds).
        public var criticalPath: TimeInterval = 2
        /// shutdown_script stopssh waits this long for the binlog salvage.
        public var salvageWait: TimeInterval = 60
        /// A chained site script is killed after this long (its exit code then is 1).
        public var chainTimeout: TimeInterval = 600
        /// A foreign session holding a backup lock (FTWRL, BACKUP STAGE, LOCK TABLES … READ) on a
        /// surviving server makes MHA wait with no bound: killed after `foreignLockGrace` by default.
        public var killForeignBackupLocks = true
        public var foreignLockGrace: TimeInterval = 2
        /// How long the worker watches the survivors for lock holders (MHA's phases 3 and 4).
        public var foreignLockWatch: TimeInterval = 300
        /// shutdown_script could not prove the old master stopped and it may still take writes:
        /// abort the failover (MHA's own power_manager does), or proceed anyway.
        public var onFenceFailure: OnFenceFailure = .abort
        public var fullBackupAfterFailover = true
        public var fullBackupAfterSwitch = true
        /// Our own trouble never aborts a failover unless this is set.
        public var abortFailoverOnError = false
        public var failoverTTL: TimeInterval = 3600

        public enum OnFailover: String, Sendable { case pause, abort }
        public enum OnFenceFailure: String, Sendable { case abort, proceed }
    }

    public enum Flavor: String, Sendable { case auto, mariadb, mysql }

    public static let defaultPath = "/etc/mha-backup/mha-backup.cnf"

    public static let schema: [String: Set<String>] = [
        "mha-backup": ["mha_conf", "credentials", "state_dir", "store_dir", "flavor"],
        "backup": ["source", "method", "compression", "compression_level", "max_parallel", "nice", "ionice_class",
                   "ionice_level", "timeout", "remote_tmpdir", "remote_credentials", "fence_ttl", "throttle", "tool_options", "safe_slave_backup"],
        "ssh": ["connect_timeout", "identity", "known_hosts", "options", "control_master"],
        "client": ["timeout"],
        "binlog": ["stream_server_id", "timeout", "stream_max_restarts"],
        "restore": ["scratch_dir", "use_memory", "buffer_pool"],
        "hooks": ["on_failover", "critical_path_seconds", "salvage_wait", "chain_timeout", "kill_foreign_backup_locks",
                  "full_backup_after_failover", "full_backup_after_switch", "abort_failover_on_error", "failover_ttl",
                  "on_fence_failure", "foreign_lock_grace_seconds", "foreign_lock_watch_seconds"],
        "chain": Set(HookKind.allCases.map(\.rawValue)),
        "alerts": Set(["command"]).union(AlertSettings.keys),
        "metrics": MetricsSettings.keys,
        "retention": RetentionSettings.keys,
        "encryption": EncryptionSettings.keys,
        "schedule": ScheduleSettings.keys,
    ]

    public func host(_ name: String) -> HostSettings { hosts[name] ?? HostSettings() }

    /// The path of the config: `--config`, then `MHA_BACKUP_CONFIG`, then the default.
    public static func resolvePath(explicit: String?, environment: [String: String]) -> String {
        if let e = explicit, !e.isEmpty { return e }
        if let e = environment["MHA_BACKUP_CONFIG"], !e.isEmpty { return e }
        return defaultPath
    }

    public static func load(_ path: String, checkModes: Bool = true, warn: (String) -> Void = eprint) throws -> BackupConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MBError(.config, "config file \(q(path)) does not exist",
                          hint: "pass --config FILE or set MHA_BACKUP_CONFIG (sandbox: eval \"$(mha-backup sandbox env)\")")
        }
        if checkModes { try requirePrivate(path, what: "config file") }
        let ini = try INIFile.load(path, inlineComments: true)
        let c = try parse(ini, warn: warn)
        if checkModes { try requirePrivate(c.credentials, what: "credentials file") }
        return c
    }

    public static func parse(_ ini: INIFile, warn: (String) -> Void = { _ in }) throws -> BackupConfig {
        let p = ini.path
        for s in ini.sections {
            if s.name.hasPrefix("host ") {
                for e in s.entries where !["datadir", "socket", "remote_credentials"].contains(e.key) {
                    warn("\(p):\(e.line): unknown key \(q(e.key)) in [\(s.name)] (ignored)")
                }
                continue
            }
            if s.name.hasPrefix("tier ") { continue }  // the rclone backend's keys: TierSettings.parse checks them
            guard let keys = schema[s.name] else {
                warn("\(p):\(s.line): unknown section [\(s.name)] (ignored)")
                continue
            }
            for e in s.entries where !keys.contains(e.key) {
                warn("\(p):\(e.line): unknown key \(q(e.key)) in [\(s.name)] (ignored)")
            }
        }
        func req(_ sec: String, _ key: String) throws -> String {
            guard let s = ini.section(sec) else {
                throw MBError.config("\(p): missing section [\(sec)] (required key \(q(key)))")
            }
            guard let e = s.entry(key), !e.value.isEmpty else {
                throw MBError.config("\(p):\(s.line): [\(sec)] is missing required key \(q(key))")
            }
            return e.value
        }
        func opt(_ sec: String, _ key: String) -> INIFile.Entry? { ini.section(sec)?.entry(key) }
        func int(_ sec: String, _ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let e = opt(sec, key) else { return nil }
            guard let n = Int(e.value), range.contains(n) else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(q(e.value))")
            }
            return n
        }
        func path(_ sec: String, _ key: String) throws -> String? {
            guard let e = opt(sec, key) else { return nil }
            guard e.value.hasPrefix("/") else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be an absolute path, got \(q(e.value))")
            }
            return e.value
        }
        func enumValue<T: RawRepresentable>(_ sec: String, _ key: String, _ t: T.Type) throws -> T? where T.RawValue == String {
            guard let e = opt(sec, key) else { return nil }
            guard let v = T(rawValue: e.value) else {
                throw MBError.config("\(p):\(e.line): \(q(key)) has unknown value \(q(e.value))")
            }
            return v
        }

        let mhaConf = try req("mha-backup", "mha_conf")
        let creds = try req("mha-backup", "credentials")
        guard mhaConf.hasPrefix("/") else {
            throw MBError.config("\(p):\(opt("mha-backup", "mha_conf")!.line): 'mha_conf' must be an absolute path")
        }
        guard creds.hasPrefix("/") else {
            throw MBError.config("\(p):\(opt("mha-backup", "credentials")!.line): 'credentials' must be an absolute path")
        }
        var c = BackupConfig(path: p, mhaConf: mhaConf, credentials: creds,
                             stateDir: try path("mha-backup", "state_dir") ?? "/var/lib/mha-backup/state",
                             storeDir: try path("mha-backup", "store_dir") ?? "/var/lib/mha-backup/store")
        if let f = try enumValue("mha-backup", "flavor", Flavor.self) { c.mysqlFlavor = f }
        if let e = opt("backup", "source") { c.source = SourcePolicy.parse(e.value) }
        if opt("backup", "method")?.value == "auto" { c.methodAuto = true } else if let m = try enumValue("backup", "method", BackupMethod.self) { c.method = m }
        if let m = try enumValue("backup", "compression", Compression.self) { c.compression = m }
        c.compressionLevel = try int("backup", "compression_level", 1...19)
        if let n = try int("backup", "max_parallel", 1...64) { c.maxParallel = n }
        if let n = try int("backup", "nice", 0...19) { c.nice = n }
        if let e = opt("backup", "ionice_class") {
            if e.value == "none" { c.ioniceClass = nil } else { c.ioniceClass = try int("backup", "ionice_class", 1...3) }
        }
        if let n = try int("backup", "ionice_level", 0...7) { c.ioniceLevel = n }
        if let n = try int("backup", "timeout", 1...2_592_000) { c.backupTimeout = TimeInterval(n) }
        c.throttle = try int("backup", "throttle", 1...100_000)
        if let v = try enumValue("backup", "safe_slave_backup", SafeSlave.self) { c.safeSlaveBackup = v }
        if let e = opt("backup", "tool_options") {
            c.toolOptions = e.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if let bad = c.toolOptions.first(where: { !$0.hasPrefix("--") || $0.hasPrefix("--defaults") }) {
                throw MBError.config("\(p):\(e.line): 'tool_options' takes --options only (and no --defaults-*), got \(q(bad))")
            }
        }
        if let s = try path("backup", "remote_tmpdir") {
            guard SafeName.isValidRemotePath(s) else {
                throw MBError.config("\(p):\(opt("backup", "remote_tmpdir")!.line): 'remote_tmpdir' must be an absolute path without '..', control characters or a component starting with '-', got \(SafeName.shown(s))")
            }
            c.remoteTmpdir = s
        }
        c.remoteCredentials = try path("backup", "remote_credentials")
        if let n = try int("backup", "fence_ttl", 1...604_800) { c.fenceTTL = TimeInterval(n) }
        if let n = try int("ssh", "connect_timeout", 1...300) { c.sshConnectTimeout = n }
        c.sshIdentity = try path("ssh", "identity")
        c.sshKnownHosts = try path("ssh", "known_hosts")
        if let e = opt("ssh", "options") {
            c.sshOptions = e.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        if let n = try int("client", "timeout", 1...3600) { c.clientTimeout = TimeInterval(n) }
        if let n = try int("binlog", "stream_server_id", 1...4_294_967_295) { c.streamServerId = n }
        if let n = try int("binlog", "stream_max_restarts", 0...100_000) { c.streamMaxRestarts = n }
        if let s = try path("restore", "scratch_dir") { c.restoreScratchDir = s }
        for (key, set) in [("use_memory", \BackupConfig.restoreUseMemory), ("buffer_pool", \BackupConfig.restoreBufferPool)] as [(String, WritableKeyPath<BackupConfig, String>)] {
            guard let e = opt("restore", key) else { continue }
            guard matchesRegex(e.value, #"^[1-9][0-9]*[KMGkmg]?$"#) else {
                throw MBError.config("\(p):\(e.line): \(q(key)) must be a size like '1G' or '512M', got \(q(e.value))")
            }
            c[keyPath: set] = e.value
        }
        if let n = try int("binlog", "timeout", 1...2_592_000) { c.binlogTimeout = TimeInterval(n) }
        func bool(_ sec: String, _ key: String) throws -> Bool? {
            guard let e = opt(sec, key) else { return nil }
            switch e.value.lowercased() {
            case "yes", "true", "on", "1": return true
            case "no", "false", "off", "0": return false
            default: throw MBError.config("\(p):\(e.line): \(q(key)) must be yes or no, got \(q(e.value))")
            }
        }
        if let b = try bool("ssh", "control_master") { c.sshControlMaster = b }
        if let e = opt("hooks", "on_failover") {
            guard let v = HookSettings.OnFailover(rawValue: e.value) else {
                throw MBError.config("\(p):\(e.line): 'on_failover' must be pause or abort, got \(q(e.value))")
            }
            c.hooks.onFailover = v
        }
        if let n = try int("hooks", "critical_path_seconds", 0...60) { c.hooks.criticalPath = TimeInterval(n) }
        if let n = try int("hooks", "salvage_wait", 0...3600) { c.hooks.salvageWait = TimeInterval(n) }
        if let n = try int("hooks", "chain_timeout", 1...86_400) { c.hooks.chainTimeout = TimeInterval(n) }
        if let n = try int("hooks", "failover_ttl", 1...604_800) { c.hooks.failoverTTL = TimeInterval(n) }
        if let b = try bool("hooks", "kill_foreign_backup_locks") { c.hooks.killForeignBackupLocks = b }
        if let n = try int("hooks", "foreign_lock_grace_seconds", 0...3600) { c.hooks.foreignLockGrace = TimeInterval(n) }
        if let n = try int("hooks", "foreign_lock_watch_seconds", 0...86_400) { c.hooks.foreignLockWatch = TimeInterval(n) }
        if let v = try enumValue("hooks", "on_fence_failure", HookSettings.OnFenceFailure.self) { c.hooks.onFenceFailure = v }
        if let b = try bool("hooks", "full_backup_after_failover") { c.hooks.fullBackupAfterFailover = b }
        if let b = try bool("hooks", "full_backup_after_switch") { c.hooks.fullBackupAfterSwitch = b }
        if let b = try bool("hooks", "abort_failover_on_error") { c.hooks.abortFailoverOnError = b }
        for k in HookKind.allCases {
            if let e = opt("chain", k.rawValue), !e.value.isEmpty {
                guard e.value.hasPrefix("/") else {
                    throw MBError.config("\(p):\(e.line): chained script \(q(k.rawValue)) must be an absolute path, got \(q(e.value))")
                }
                c.chain[k] = e.value
            }
        }
        c.alertCommand = try path("alerts", "command")
        c.metrics = try MetricsSettings.parse(ini)
        c.tiers = try TierSettings.parse(ini)
        c.retention = try RetentionSettings.parse(ini)
        c.schedule = try ScheduleSettings.parse(ini)
        c.alertDelivery = try AlertSettings.parse(ini)
        c.encryption = try EncryptionSettings.parse(ini)
        for s in ini.sections where s.name.hasPrefix("host ") {
            let name = String(s.name.dropFirst(5)).trimmedBlanks()
            c.hosts[name] = HostSettings(datadir: s.value("datadir"), socket: s.value("socket"), remoteCredentials: s.value("remote_credentials"))
        }
        return c
    }

    public var jobsDir: String { stateDir + "/jobs" }
    public var fencePath: String { stateDir + "/fence.json" }
    public var backupsDir: String { storeDir + "/backups" }
    public var binlogsDir: String { storeDir + "/binlogs" }
    public var timelinePath: String { storeDir + "/timeline.json" }
    public var auditPath: String { stateDir + "/audit.jsonl" }
    public var alertsPath: String { stateDir + "/alerts.jsonl" }
    public var streamPidPath: String { stateDir + "/binlog-stream.pid" }
    public var runHistoryPath: String { stateDir + "/runs.jsonl" }
}
