import Foundation
import MHABackupBase

extension Context {
    /// The master the catalog follows: the timeline's current entry; when the catalog has none yet,
    /// the live topology's master, recorded as timeline 1.
    public func catalogMaster(topology: Topology? = nil) throws -> (MHAServer, TimelineEntry) {
        if let c = try Timeline.load(config.timelinePath).current {
            guard let s = mha.server(named: c.masterHost) else {
                throw MBError.config("timeline master \(q(c.masterHost)) is not a server in \(q(mha.path))")
            }
            return (s, c)
        }
        let topo = topology ?? Topology.discover(mha, config: config)
        guard let m = topo.master else {
            throw MBError(.unavailable, "no master found among \(mha.servers.map { q($0.hostname) }.joined(separator: ", "))",
                          hint: "mha-backup check shows what each server said")
        }
        let e = try Timeline.update(config.timelinePath) { tl in
            // Another writer may have opened timeline 1 meanwhile: promote() keeps it then.
            tl.current ?? tl.promote(host: m.server.hostname, port: m.server.port, at: clock.now(),
                                     promotion: m.binlog.map { Coordinates(file: $0.file, position: $0.position, gtid: m.gtidBinlogPos) },
                                     failoverId: nil, reason: "initial: live topology")
        }
        guard let s = mha.server(named: e.masterHost) else {
            throw MBError.config("timeline master \(q(e.masterHost)) is not a server in \(q(mha.path))")
        }
        return (s, e)
    }
}
