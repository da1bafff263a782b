import FoundationEssentials
import Glibc
import Dispatch

/// One failover (or planned switch) from its first hook call to its report, under one id.
/// `state_dir/failovers/ID.json`; `state_dir/failovers/open` names the open one.
public struct FailoverRecord: Codable, Sendable {
    public enum Kind: String, Codable, Sendable { case failover, switchover }
    public enum Status: String, Codable, Sendable { case open, succeeded, failed }

    public var id: String
    public var kind: Kind
    public var status: Status
    public var openedAt: Date
    public var closedAt: Date?
    public var deadMaster: HookServer
    public var newMaster: HookServer?
    /// Phases seen, with the time each first ran (`master_ip_failover stopssh`, ...).
    public var steps: [String: Date] = [:]
    public var pausedJobs: [String] = []
    public var abortedJobs: [String] = []
    /// The new master's own coordinates when it was promoted (taken at `start`, before MHA lifts read_only).
    public var promotion: Coordinates?
    /// The binlog stream was running when the failover began (the report restarts it).
    public var streamWasRunning = false
    public var salvage: SalvageState?
    public var fullBackupJob: String?
    public var message: String?

    public struct SalvageState: Codable, Sendable {
        public enum State: String, Codable, Sendable { case running, done, failed }
        public var state: State
        public var startedAt: Date
        public var finishedAt: Date?
        /// Every file copied by any attempt of this failover (a failed re-run never erases them).
        public var files: [String] = []
        public var lastFile: String?
        public var lastPosition: Int64?
        public var message: String?
        public var workerPid: Int32?
        /// The worker's start time (/proc/PID/stat): a reused pid is not taken for it.
        public var workerStart: UInt64?
        /// Each hook call or `mha-backup salvage` that starts the salvage anew counts one up.
        public var attempt: Int = 1

        public init(state: State, startedAt: Date, attempt: Int = 1) {
            self.state = state
            self.startedAt = startedAt
            self.attempt = attempt
        }

        enum CodingKeys: String, CodingKey {
            case state, startedAt, finishedAt, files, lastFile, lastPosition, message, workerPid, workerStart, attempt
        }

        /// Records written before attempts existed (no `attempt`, `files` maybe absent) still read.
        public init(from d: Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            state = try c.decode(State.self, forKey: .state)
            startedAt = try c.decode(Date.self, forKey: .startedAt)
            finishedAt = try c.decodeIfPresent(Date.self, forKey: .finishedAt)
            files = try c.decodeIfPresent([String].self, forKey: .files) ?? []
            lastFile = try c.decodeIfPresent(String.self, forKey: .lastFile)
            lastPosition = try c.decodeIfPresent(Int64.self, forKey: .lastPosition)
            message = try c.decodeIfPresent(String.self, forKey: .message)
            workerPid = try c.decodeIfPresent(Int32.self, forKey: .workerPid)
            workerStart = try c.decodeIfPresent(UInt64.self, forKey: .workerStart)
            attempt = try c.decodeIfPresent(Int.self, forKey: .attempt) ?? 1
        }

        /// Running, and its worker is (still, or not yet known to be) alive.
        public func isLive(now: Date, startGrace: TimeInterval = 10) -> Bool {
            guard state == .running else { return false }
            if let p = workerPid { return ProcessRunner.isAlive(p, startedAt: workerStart) }
            return now.timeIntervalSince(startedAt) < startGrace
        }
    }
}

/// Opens, finds and saves failover records. Opening is idempotent: a re-run of a phase (or of the
/// whole failover after a manager crash) finds the open record of the same dead master.
public struct FailoverStore: Sendable {
    public var dir: String
    public var clock: Clock

    public init(stateDir: String, clock: Clock = .system) {
        dir = stateDir + "/failovers"
        self.clock = clock
    }

    func path(_ id: String) -> String { "\(dir)/\(id).json" }
    var openPointer: String { "\(dir)/open" }

    public func load(_ id: String) -> FailoverRecord? { try? JSON.load(FailoverRecord.self, path: path(id)) }

    public func save(_ r: FailoverRecord) throws {
        try AtomicFile.makeDirectory(dir)
        try AtomicFile.write(JSON.encode(r), to: path(r.id), mode: 0o640)
        if r.status == .open {
            try AtomicFile.write(r.id + "\n", to: openPointer, mode: 0o640)
        } else if openId == r.id {
            unlink(openPointer)
        }
    }

    public var openId: String? {
        (try? String(contentsOfFile: openPointer, encoding: .utf8))?.trimmed()
    }

    public var open: FailoverRecord? { openId.flatMap(load) }

    /// The open record for this dead master, or a new one. Under the folder's lock: two hooks of
    /// one failover at once (or a re-run beside a hook) find the same record.
    public func openOrCreate(kind: FailoverRecord.Kind, deadMaster: HookServer, newMaster: HookServer?,
                             step: String? = nil) throws -> (FailoverRecord, Bool) {
        try AtomicFile.makeDirectory(dir)
        return try FileLock.withLock("\(dir)/.lock") {
            if var r = open, r.deadMaster.host == deadMaster.host || r.deadMaster.address == deadMaster.address {
                if let step, r.steps[step] == nil {
                    r.steps[step] = clock.now()
                    try save(r)
                }
                return (r, false)
            }
            let now = clock.now()
            let safeHost = deadMaster.host.prefix(64).map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") ? $0 : "_" }
            var id = "fo-\(compactUTC(now))-\(String(safeHost))"
            // Never reuse the id of a closed record (two failovers of one host in one second).
            var n = 2
            while load(id) != nil { id = "fo-\(compactUTC(now))-\(String(safeHost))-\(n)"; n += 1 }
            var r = FailoverRecord(id: id, kind: kind, status: .open, openedAt: now, deadMaster: deadMaster, newMaster: newMaster)
            if let step { r.steps[step] = now }
            try save(r)
            return (r, true)
        }
    }

    /// Applies a change under the folder's lock (hooks, workers and re-runs may race).
    @discardableResult
    public func update(_ id: String, _ change: (inout FailoverRecord) -> Void) throws -> FailoverRecord {
        try FileLock.withLock("\(dir)/.lock") {
            guard var r = load(id) else { throw MBError(.noInput, "no failover record \(q(id))") }
            change(&r)
            try save(r)
            return r
        }
    }

    /// Starts a salvage attempt unless one runs with a live worker: returns the attempt to wait
    /// for and whether the caller must start its worker. A finished or dead attempt is replaced
    /// by a new one (its files are kept).
    public func beginSalvage(_ id: String) throws -> (attempt: Int, start: Bool) {
        var result = (attempt: 1, start: true)
        let now = clock.now()
        try update(id) { r in
            if let s = r.salvage, s.isLive(now: now) {
                result = (s.attempt, false)
                return
            }
            var s = FailoverRecord.SalvageState(state: .running, startedAt: now, attempt: (r.salvage?.attempt ?? 0) + 1)
            s.files = r.salvage?.files ?? []
            s.lastFile = r.salvage?.lastFile
            s.lastPosition = r.salvage?.lastPosition
            if let old = r.salvage, old.state != .done {
                s.message = "attempt \(old.attempt) \(old.state == .running ? "was interrupted (its worker is gone)" : "failed: \(old.message ?? "-")")"
            }
            r.salvage = s
            result = (s.attempt, true)
        }
        return result
    }

    public func all() -> [FailoverRecord] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".json") }
            .compactMap { try? JSON.load(FailoverRecord.self, path: "\(dir)/\($0)") }
            .sorted { $0.openedAt < $1.openedAt }
    }
}
