import Foundation
import Testing
@testable import MHABackupBase

@Suite("the catalog's order")
struct CatalogOrderTests {
    @Test("oldest first by start time, not by id: an id given with --id never passes for the newest")
    func byTime() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let catalog = Catalog(dir: d.path + "/backups")
        let t0 = Date(timeIntervalSince1970: 1_790_000_000)
        func m(_ id: String, _ at: Date) -> Manifest {
            Manifest(id: id, type: .full, method: .mariabackup, status: .running, sourceHost: "db2", sourcePort: 3306,
                     sourceServerId: 2, sourceRole: "replica", timeline: 1, startedAt: at, finishedAt: at.addingTimeInterval(60),
                     compression: .zstd)
        }
        // "zz-manual" sorts last by name but is the oldest; the generated id is the newest.
        try catalog.commit(m("zz-manual", t0))
        try catalog.commit(m(Catalog.newId(type: .full, at: t0.addingTimeInterval(3600)), t0.addingTimeInterval(3600)))
        try catalog.commit(m("aa-manual", t0.addingTimeInterval(1800)))
        let ids = catalog.all().map(\.id)
        #expect(ids.first == "zz-manual" && ids[1] == "aa-manual" && ids.last?.hasPrefix("2026") == true, "\(ids)")
        #expect(catalog.latestParent(host: "db2", port: 3306, serverId: 2)?.id == ids.last)
    }
}
