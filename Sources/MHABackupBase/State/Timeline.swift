import FoundationEssentials
import Glibc
import Dispatch

/// One period with one master. A failover (or online switch) closes the current entry and opens
/// the next, with the new master's promotion point.
public struct TimelineEntry: Codable, Sendable, Equatable {
    package init(id: Int, masterHost: String, masterPort: Int, since: Date, promotion: Coordinates? = nil, previousMasterEnd: Coordinates? = nil, failoverId: String? = nil, reason: String) {
        self.id = id
        self.masterHost = masterHost
        self.masterPort = masterPort
        self.since = since
        self.promotion = promotion
        self.previousMasterEnd = previousMasterEnd
        self.failoverId = failoverId
        self.reason = reason
    }

    public var id: Int
    public var masterHost: String
    public var masterPort: Int
    public var since: Date
    /// The new master's own binlog coordinates when it was promoted (nil for the first timeline).
    public var promotion: Coordinates?
    /// The old master's last known coordinates when this timeline started.
    public var previousMasterEnd: Coordinates?
    public var failoverId: String?
    public var reason: String
}

/// `store/timeline.json`: which server is master, since when. The binlog stream and the default
/// backup source follow its last entry; the hooks append to it.
public struct Timeline: Codable, Sendable {
    public var entries: [TimelineEntry] = []

    public var current: TimelineEntry? { entries.last }

    /// A missing file is an empty history; an unreadable one is an error (never an empty history).
    public static func load(_ path: String) throws -> Timeline {
        guard FileManager.default.fileExists(atPath: path) else { return Timeline() }
        do {
            return try JSON.load(Timeline.self, path: path)
        } catch {
            throw MBError(.dataError, "timeline \(q(path)) cannot be read: \(error)",
                          hint: "restore it from the store's copy or fix it by hand; mha-backup never overwrites it")
        }
    }

    /// The one writer: every change to `timeline.json` goes through here, under its lock, from a
    /// fresh read. A file that cannot be read is never replaced. Saved only when changed.
    @discardableResult
    public static func update<T>(_ path: String, _ change: (inout Timeline) throws -> T) throws -> T {
        try FileLock.withLock(path + ".lock") {
            var tl = try load(path)
            let before = tl.entries
            let r = try change(&tl)
            if tl.entries != before {
                try AtomicFile.makeDirectory(Path.dir(path))
                try AtomicFile.write(JSON.encode(tl), to: path)
            }
            return r
        }
    }

    /// Opens a new timeline with a new master. Idempotent: a second call for the same master and
    /// failover id changes nothing and returns the existing entry.
    @discardableResult
    public mutating func promote(host: String, port: Int, at: Date, promotion: Coordinates?,
                                 previousMasterEnd: Coordinates? = nil, failoverId: String?, reason: String) -> TimelineEntry {
        if let c = current, c.masterHost == host, c.masterPort == port,
           failoverId == nil || c.failoverId == failoverId {
            return c
        }
        let e = TimelineEntry(id: (current?.id ?? 0) + 1, masterHost: host, masterPort: port, since: at,
                              promotion: promotion, previousMasterEnd: previousMasterEnd,
                              failoverId: failoverId, reason: reason)
        entries.append(e)
        return e
    }
}
