import Foundation
import MHABackupBase

/// Checks gates. The real one reads the fence, runs masterha_check_status and makes one ssh call
/// to the source host; tests pass a recording fake.
public protocol GateProbe: Sendable {
    /// Checks `gates` in order and stops at the first closed one (its result is last).
    func check(_ gates: [GateKind], for kind: RunKind) -> [GateResult]
}

/// What `/proc/loadavg` and `/proc/diskstats` say, parsed without a server.
public enum HostStats {
    /// The 1-minute load average: the first field of `/proc/loadavg`.
    public static func load(_ text: String) -> Double? {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.flatMap { Double($0) }
    }

    /// `major:minor` -> (name, io_ticks in ms: field 13 of a diskstats line, time the device was busy).
    public static func diskstats(_ text: String) -> [String: (name: String, ioTicks: Double)] {
        var out: [String: (name: String, ioTicks: Double)] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 13, let ticks = Double(f[12]) else { continue }
            out["\(f[0]):\(f[1])"] = (String(f[2]), ticks)
        }
        return out
    }

    /// glibc's encoding of a `dev_t` (`stat -c %d`) as `major:minor`.
    public static func majorMinor(dev: UInt64) -> String {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return "\(major):\(minor)"
    }

    /// Percent of the interval the device was busy, from two diskstats samples `seconds` apart.
    public static func utilisation(before: Double, after: Double, seconds: Double) -> Double {
        guard seconds > 0 else { return 0 }
        return min(100, max(0, (after - before) / (seconds * 1000) * 100))
    }

    /// Devices that are not disks: an overlay or tmpfs datadir falls back to the busiest real one.
    static func isVirtual(_ name: String) -> Bool {
        ["loop", "ram", "zram", "sr", "fd"].contains { name.hasPrefix($0) }
    }

    /// The probe's output: `@@DEV n`, `@@LOAD …`, `@@DISK1` diskstats, `@@DISK2` diskstats.
    public struct Probe: Sendable, Equatable {
        public var load: Double?
        /// The data disk's name and its utilisation; nil when no block device was found.
        public var device: String?
        public var ioUtil: Double?
        public var note: String?
    }

    public static func parseProbe(_ out: String, seconds: Double) -> Probe {
        var sections: [String: String] = [:]
        var current = ""
        for line in out.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@@") {
                let parts = line.dropFirst(2).split(separator: " ", maxSplits: 1)
                current = parts.first.map(String.init) ?? ""
                sections[current] = parts.count > 1 ? String(parts[1]) + "\n" : ""
            } else if !current.isEmpty {
                sections[current, default: ""] += line + "\n"
            }
        }
        var p = Probe()
        p.load = sections["LOAD"].flatMap(load)
        let d1 = diskstats(sections["DISK1"] ?? ""), d2 = diskstats(sections["DISK2"] ?? "")
        let dev = sections["DEV"].flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if let dev, let a = d1[majorMinor(dev: dev)], let b = d2[majorMinor(dev: dev)] {
            p.device = a.name
            p.ioUtil = utilisation(before: a.ioTicks, after: b.ioTicks, seconds: seconds)
        } else {
            // No block device under the datadir (overlay, tmpfs): the busiest real disk speaks for it.
            var best: (String, Double)?
            for (k, a) in d1 where !isVirtual(a.name) {
                guard let b = d2[k] else { continue }
                let u = utilisation(before: a.ioTicks, after: b.ioTicks, seconds: seconds)
                if best == nil || u > best!.1 { best = (a.name, u) }
            }
            if let best {
                p.device = best.0
                p.ioUtil = best.1
                p.note = "the datadir is on no block device of /proc/diskstats; the busiest disk measured"
            }
        }
        return p
    }
}

/// The real gates of one cluster.
public struct LiveGateProbe: GateProbe {
    public let ctx: Context
    public init(ctx: Context) { self.ctx = ctx }

    var settings: ScheduleSettings { ctx.config.schedule }

    public func check(_ gates: [GateKind], for kind: RunKind) -> [GateResult] {
        var out: [GateResult] = []
        var probe: (HostStats.Probe?, String)?
        for g in gates {
            let r: GateResult
            switch g {
            case .fence: r = fence()
            case .manager: r = manager()
            case .localLoad: r = localLoad()
            case .load, .ioUtil:
                if probe == nil { probe = sourceProbe(kind) }
                r = fromProbe(g, probe!)
            }
            out.append(r)
            if !r.open { break }
        }
        return out
    }

    func fence() -> GateResult {
        let path = ctx.config.fencePath
        guard let f = Fence.load(path) else { return GateResult(gate: .fence, open: true, reason: "no fence") }
        return GateResult(gate: .fence, open: false, reason: f.describe(path: path, now: ctx.clock.now()))
    }

    /// `masterha_check_status --conf=APP`: exit 0 and "is running" when the manager monitors.
    func manager() -> GateResult {
        guard settings.requireManager else { return GateResult(gate: .manager, open: true, reason: "require_manager = no") }
        guard let exe = ProcessRunner.which("masterha_check_status") else {
            return GateResult(gate: .manager, open: false, reason: "masterha_check_status is not installed (Debian package mha4mysql-manager)")
        }
        do {
            let r = try ProcessRunner().run(Command([exe, "--conf=\(ctx.config.mhaConf)"]), timeout: settings.gateTimeout, outputLimit: 64 << 10)
            let said = (r.stdoutString + " " + r.stages[0].stderr).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: " ")
            if r.timedOut { return GateResult(gate: .manager, open: false, reason: "masterha_check_status timed out after \(Int(settings.gateTimeout)) s") }
            if r.succeeded && said.contains("is running") { return GateResult(gate: .manager, open: true, reason: said) }
            return GateResult(gate: .manager, open: false, reason: "the MHA manager does not monitor \(q(ctx.config.mhaConf)): \(said.isEmpty ? r.failureSummary : said)")
        } catch {
            return GateResult(gate: .manager, open: false, reason: "masterha_check_status: \(error)")
        }
    }

    func localLoad() -> GateResult {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8), let l = HostStats.load(text) else {
            return GateResult(gate: .localLoad, open: false, reason: "cannot read /proc/loadavg")
        }
        let open = l <= settings.maxLoad
        return GateResult(gate: .localLoad, open: open, reason: "load \(String(format: "%.2f", l)) \(open ? "<=" : ">") max_load \(settings.maxLoad) on this host")
    }

    /// The host a backup would use now (the same choice as the backup engine), and one ssh call
    /// reading its load and two diskstats samples around the datadir's device.
    func sourceProbe(_ kind: RunKind) -> (HostStats.Probe?, String) {
        let type: BackupType = kind == .incremental ? .incremental : .full
        let topology = Topology.discover(ctx.mha, config: ctx.config)
        let source: ServerState
        do { source = try BackupEngine(ctx: ctx).chooseSource(BackupRequest(type: type), topology: topology, busy: []) } catch let e as MBError {
            return (nil, "no source to measure: \(e.message)")
        } catch { return (nil, "no source to measure: \(error)") }
        let host = source.server.hostname
        guard let datadir = ctx.config.host(host).datadir ?? ctx.config.host(source.server.ip).datadir ?? source.datadir else {
            return (nil, "the datadir of \(q(host)) is unknown")
        }
        let n = Int(settings.ioSample)
        let remote = RemoteCommand.sequence([
            // A datadir stat cannot read leaves DEV empty: the busiest disk is measured instead.
            ["echo", "@@DEV"], ["stat", "-c", "%d", "--", datadir],
            ["echo", "@@LOAD"], ["cat", "/proc/loadavg"],
            ["echo", "@@DISK1"], ["cat", "/proc/diskstats"], ["sleep", String(n)],
            ["echo", "@@DISK2"], ["cat", "/proc/diskstats"],
        ])
        do {
            let ssh = try SSHTarget(server: source.server, config: ctx.config)
            let r = try ProcessRunner().run(ssh.command(remote), timeout: settings.gateTimeout + Double(n), outputLimit: 1 << 20)
            if r.timedOut { return (nil, "\(host): ssh timed out after \(Int(settings.gateTimeout) + n) s") }
            let p = HostStats.parseProbe(r.stdoutString, seconds: Double(n))
            if p.load == nil {
                let err = r.stages[0].stderr.split(separator: "\n").last.map(String.init) ?? r.failureSummary
                return (nil, "\(host) unreachable: \(err)")
            }
            return (p, host)
        } catch let e as MBError {
            return (nil, "\(host): \(e.message)")
        } catch {
            return (nil, "\(host): \(error)")
        }
    }

    func fromProbe(_ g: GateKind, _ probe: (HostStats.Probe?, String)) -> GateResult {
        guard let p = probe.0 else { return GateResult(gate: g, open: false, reason: probe.1) }
        let host = probe.1
        if g == .load {
            let l = p.load ?? .infinity
            let open = l <= settings.maxLoad
            return GateResult(gate: .load, open: open, reason: "load \(String(format: "%.2f", l)) \(open ? "<=" : ">") max_load \(settings.maxLoad) on \(host)")
        }
        guard let u = p.ioUtil, let dev = p.device else {
            // No disk at all to measure (a host without /proc/diskstats entries): nothing can say it is busy.
            return GateResult(gate: .ioUtil, open: true, reason: "no disk in /proc/diskstats of \(host); IO not measured")
        }
        let open = u <= settings.maxIOUtil
        return GateResult(gate: .ioUtil, open: open, reason: "\(dev) \(String(format: "%.0f", u)) % busy \(open ? "<=" : ">") max_io_util \(Int(settings.maxIOUtil)) % on \(host)"
                          + (p.note.map { " (\($0))" } ?? ""))
    }
}
