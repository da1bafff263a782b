import Foundation
import Testing
@testable import MHABackupBase

@Suite("one state_dir and store_dir per cluster")
struct ClusterClaimTests {
    func config(_ d: TempDir, app: String, state: String = "state") -> BackupConfig {
        BackupConfig(path: d.path + "/\(app).cnf", mhaConf: "/etc/masterha/\(app).cnf", credentials: "/y",
                     stateDir: d.path + "/" + state, storeDir: d.path + "/store-" + app)
    }

    @Test("the first command claims existing folders; another cluster's config on the same folder is refused (78), naming it")
    func claim() throws {
        let d = try TempDir(); defer { d.cleanup() }
        let a = config(d, app: "app1"), b = config(d, app: "app2")
        // Folders that do not exist yet are not created (a read-only command must not make them).
        try ClusterClaim.check(a)
        #expect(!FileManager.default.fileExists(atPath: a.stateDir))
        try AtomicFile.makeDirectory(a.stateDir)
        try AtomicFile.makeDirectory(a.storeDir)
        try ClusterClaim.check(a)
        #expect(FileManager.default.contents(atPath: a.stateDir + "/cluster.owner") == Data("/etc/masterha/app1.cnf\n".utf8))
        try ClusterClaim.check(a)
        let e = mbError { try ClusterClaim.check(b) }
        #expect(e?.code == .config)
        #expect(e?.message.contains("state_dir") == true && e?.message.contains("/etc/masterha/app1.cnf") == true)
        // Its own state_dir: fine.
        try ClusterClaim.check(config(d, app: "app2", state: "state2"))
    }
}
